import { Command, Flags, type Interfaces } from '@oclif/core';
import { asPrtiqlError, ERROR_EXIT_CODES, PrtiqlError } from '../../shared/errors.js';
import { checkMetadataFile, metadataFileFlag, writeMetadataFile } from './metadata-file.js';
import { Progress } from './progress.js';

/** What oclif's parser returns for flags and arguments: values by name. */
type ParsedValues = { [name: string]: any };

/**
 * Every prtiql command. Its result (schemas/<command>.schema.json) is printed as JSON on
 * stdout under --json and written to --metadata-file; in human mode stdout gets the one line a
 * script captures (`D=$(prtiql build ...)`), and messages and progress go to stderr. A
 * PrtiqlError keeps its documented exit code in both modes.
 */
export abstract class BaseCommand<Result extends object> extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    quiet: Flags.boolean({ char: 'q', description: 'Print no progress or messages on stderr.', helpGroup: 'GLOBAL' }),
    'metadata-file': metadataFileFlag,
  };

  /** Does the command's work and returns its result. */
  protected abstract execute(): Promise<Result>;

  /** The line human mode prints on stdout: what a script captures (a reference, a location). */
  protected abstract resultLine(result: Result): string;

  private parsing?: Promise<unknown>;

  /** Parses the command line once: run() reads --metadata-file, execute() the rest, and warnings show once. */
  protected override parse<F extends ParsedValues, B extends ParsedValues, A extends ParsedValues>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    this.parsing ??= super.parse(options, argv);
    return this.parsing as Promise<Interfaces.ParserOutput<F, B, A>>;
  }

  async run(): Promise<Result> {
    const { flags } = await this.parse(this.ctor);
    const metadataFile = flags['metadata-file'] as string | undefined;
    await checkMetadataFile(metadataFile);
    const result = await this.execute();
    await writeMetadataFile(metadataFile, result);
    if (!this.jsonEnabled()) process.stdout.write(`${this.resultLine(result)}\n`);
    return result;
  }

  protected get quiet(): boolean {
    return this.jsonEnabled() || this.argv.includes('--quiet') || this.argv.includes('-q');
  }

  /** A human message on stderr; silent under --json and --quiet. */
  protected say(message: string): void {
    if (!this.quiet) process.stderr.write(`${message}\n`);
  }

  /** One unwrapped line on stderr, even under --quiet (never under --json): also oclif's deprecation warnings. */
  override warn(input: string | Error): string | Error {
    if (!this.jsonEnabled()) process.stderr.write(`Warning: ${input instanceof Error ? input.message : input}\n`);
    return input;
  }

  protected progress(label: string, total?: number): Progress {
    return new Progress(label, total, this.quiet ? undefined : process.stderr);
  }

  /** One line on stderr (and the error object under --json), then the documented exit code. */
  protected override async catch(thrown: Error & { code?: string; oclif?: { exit?: number } }): Promise<unknown> {
    if (thrown.code === 'EEXIT') throw thrown;
    const usage = !(thrown instanceof PrtiqlError) && thrown.oclif?.exit === ERROR_EXIT_CODES.E_USAGE;
    const error = usage ? new PrtiqlError('E_USAGE', thrown.message) : asPrtiqlError(thrown);
    const { code, exitCode: exit } = error;
    const message = error.message.replace(/\s*\n\s*/g, ' ').trim();
    if (this.jsonEnabled()) this.logJson({ error: { code, message } });
    process.stderr.write(`Error: ${message}\n`);
    this.exit(exit);
  }
}

export type FlagsOf<T extends typeof Command> = Interfaces.InferredFlags<T['flags'] & (typeof BaseCommand)['baseFlags']>;
