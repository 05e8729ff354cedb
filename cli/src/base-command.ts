import { Command, Flags, type Interfaces } from '@oclif/core';
import { asPrtiqlError, ERROR_EXIT_CODES, PrtiqlError } from '../../shared/errors.js';
import { Progress } from './progress.js';

/**
 * Every prtiql command: `--json` prints the result object on stdout, human text and
 * progress go to stderr, and a PrtiqlError keeps its documented exit code in both modes.
 */
export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    quiet: Flags.boolean({ char: 'q', description: 'Print no progress or messages on stderr.', helpGroup: 'GLOBAL' }),
  };

  protected get quiet(): boolean {
    return this.jsonEnabled() || this.argv.includes('--quiet') || this.argv.includes('-q');
  }

  /** A human message on stderr; silent under --json and --quiet. */
  protected say(message: string): void {
    if (!this.quiet) process.stderr.write(`${message}\n`);
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
