import { parseArgs } from 'node:util';
import { PrtiqlError } from '../../shared/errors.js';
import { configureLogging, createLogger, type LogFormat, type LogLevel } from '../log.js';
import { COMMON_OPTIONS } from './common-options.js';
import { commandHelp } from './help.js';
import { applierVersion } from '../version.js';
import { applyUnsafeNoFsync } from './unsafe-no-fsync.js';

export interface StringOption {
  type: 'string';
  /** What the option does, for `--help`. */
  description: string;
  /** The value's name in help: `dir` for `--store <dir>`. */
  placeholder: string;
  required?: true;
  /** Used when the option is not given (help shows it). */
  default?: string;
  /** The only values accepted (help lists them). */
  choices?: readonly string[];
  /** The environment variable used when the option is not given. */
  env?: string;
}

export interface BooleanOption {
  type: 'boolean';
  description: string;
  short?: string;
}

export type OptionDeclaration = StringOption | BooleanOption;
export type OptionTable = Record<string, OptionDeclaration>;

type OptionValue<D> = D extends BooleanOption ? boolean : D extends { required: true } | { default: string } ? string : string | undefined;
export type OptionValues<T extends OptionTable> = { -readonly [K in keyof T]: OptionValue<T[K]> };

export interface PositionalDeclaration {
  name: string;
  description: string;
  required?: true;
  choices?: readonly string[];
}

/**
 * Everything about one `applier <name>` command: its options (parsed from this table and
 * described in its help from the same entries), what it reads from the environment,
 * examples, and what it does with the parsed values.
 */
export interface CommandDeclaration<T extends OptionTable> {
  name: string;
  /** One line: what the command does. */
  summary: string;
  /** More about it, shown in its help under the usage line. */
  description?: string;
  positionals?: readonly PositionalDeclaration[];
  options: T;
  /** Environment variables the command reads besides the common ones, with what they do. */
  environment?: Readonly<Record<string, string>>;
  examples: readonly string[];
  /** Plumbing other commands start: left out of the command list. */
  hidden?: true;
  /** Called with every option valid, before anything else is read or written. */
  run(values: OptionValues<T>, positionals: string[]): Promise<number>;
}

/** A command ready for main: its table, its help, and argv in, exit status out. */
export interface Subcommand {
  readonly declaration: CommandDeclaration<OptionTable>;
  /** Every option it takes, its own and the common ones. */
  readonly options: OptionTable;
  run(args: string[]): Promise<number>;
}

function usageError(command: string, message: string): PrtiqlError {
  return new PrtiqlError('E_USAGE', `${command}: ${message} (see applier ${command} --help)`);
}

/** A string option's value: given, else from its variable, else its default; checked against its choices. */
function stringValue(command: string, flag: string, option: StringOption, given: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const fromEnv = given === undefined && option.env !== undefined ? env[option.env] : undefined;
  const value = given ?? fromEnv ?? option.default;
  const origin = fromEnv === undefined ? `--${flag}` : option.env;
  if (value === undefined || value === '') {
    if (option.required) throw usageError(command, `--${flag} is required`);
    if (value === '') throw usageError(command, `${origin} is empty`);
    return undefined;
  }
  if (option.choices && !option.choices.includes(value)) {
    throw usageError(command, `${origin} is ${option.choices.join(', ')}, not ${JSON.stringify(value)}`);
  }
  return value;
}

function checkPositionals(command: string, declared: readonly PositionalDeclaration[], given: string[]): void {
  if (given.length > declared.length) throw usageError(command, `unexpected argument ${JSON.stringify(given[declared.length])}`);
  declared.forEach((positional, index) => {
    const value = given[index];
    if (value === undefined) {
      if (positional.required) throw usageError(command, `<${positional.name}> is required`);
    } else if (positional.choices && !positional.choices.includes(value)) {
      throw usageError(command, `<${positional.name}> is ${positional.choices.join(', ')}, not ${JSON.stringify(value)}`);
    }
  });
}

/**
 * Parses argv strictly against the table; every mistake is E_USAGE naming the command.
 * `help` is true when --help was given: nothing else is checked then.
 */
export function parseCommandLine<T extends OptionTable>(
  command: string,
  options: T,
  positionals: readonly PositionalDeclaration[],
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { help: boolean; values: OptionValues<T>; positionals: string[] } {
  const config = Object.fromEntries(
    Object.entries(options).map(([flag, option]) => [flag, option.type === 'boolean' && option.short ? { type: option.type, short: option.short } : { type: option.type }]),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options: config, strict: true, allowPositionals: true });
  } catch (error) {
    throw usageError(command, (error as Error).message);
  }
  const values: Record<string, string | boolean | undefined> = {};
  const help = parsed.values.help === true;
  if (!help) {
    for (const [flag, option] of Object.entries(options)) {
      const given = parsed.values[flag];
      values[flag] = option.type === 'boolean' ? given === true : stringValue(command, flag, option, given as string | undefined, env);
    }
    checkPositionals(command, positionals, parsed.positionals);
  }
  return { help, values: values as OptionValues<T>, positionals: parsed.positionals };
}

/**
 * The command main runs: --help prints its help; otherwise every option is checked and the
 * log configured before the declaration's `run` sees anything.
 */
export function defineCommand<const T extends OptionTable>(declaration: CommandDeclaration<T>): Subcommand {
  const options: OptionTable = { ...declaration.options, ...COMMON_OPTIONS };
  const command: Subcommand = {
    declaration: declaration as unknown as CommandDeclaration<OptionTable>,
    options,
    async run(args) {
      const parsed = parseCommandLine(declaration.name, options, declaration.positionals ?? [], args);
      if (parsed.help) {
        process.stdout.write(commandHelp(command));
        return 0;
      }
      const common = parsed.values as OptionValues<typeof COMMON_OPTIONS>;
      configureLogging({ level: common['log-level'] as LogLevel, format: common['log-format'] as LogFormat | undefined });
      const log = createLogger();
      log.debug('command.started', { command: declaration.name, version: applierVersion(), cwd: process.cwd() });
      applyUnsafeNoFsync(process.env, log);
      return declaration.run(parsed.values as OptionValues<T>, parsed.positionals);
    },
  };
  return command;
}
