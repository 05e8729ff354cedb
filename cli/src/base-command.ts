import { Command, Flags, type Interfaces } from '@oclif/core';
import { ERROR_EXIT_CODES, PrtiqlError } from '../../shared/errors.js';
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
  protected override async catch(error: Error & { code?: string; oclif?: { exit?: number } }): Promise<unknown> {
    if (error.code === 'EEXIT') throw error;
    const typed = error instanceof PrtiqlError;
    const exit = typed ? error.exitCode : (error.oclif?.exit ?? ERROR_EXIT_CODES.E_INTERNAL);
    const code = typed ? error.code : exit === ERROR_EXIT_CODES.E_USAGE ? 'E_USAGE' : 'E_INTERNAL';
    const message = error.message.replace(/\s*\n\s*/g, ' ').trim();
    if (this.jsonEnabled()) this.logJson({ error: { code, message } });
    process.stderr.write(`Error: ${message}\n`);
    this.exit(exit);
  }

}

export type FlagsOf<T extends typeof Command> = Interfaces.InferredFlags<T['flags'] & (typeof BaseCommand)['baseFlags']>;
