import { parseArgs, type ParseArgsConfig } from 'node:util';
import { PrtiqlError } from '../../shared/errors.js';

/**
 * One `applier <name> ...` subcommand. `summary` is its usage line, name first; `run` gets
 * the arguments after the name and returns the exit status.
 */
export interface Subcommand {
  summary: string;
  run(args: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Strict option parsing; any mistake is E_USAGE naming the command. */
export function parseOptions<const O extends Options>(command: string, args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new PrtiqlError('E_USAGE', `${command}: ${(error as Error).message}`);
  }
}

export function requireOption(command: string, value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new PrtiqlError('E_USAGE', `${command}: --${flag} is required`);
  return value;
}
