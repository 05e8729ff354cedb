import { Command, Errors, Flags, type Interfaces } from '@oclif/core';
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

  protected override async catch(error: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    if (error instanceof PrtiqlError) {
      if (this.jsonEnabled()) this.logJson({ error: { code: error.code, message: error.message } });
      throw new Errors.CLIError(error.message, { exit: error.exitCode, code: error.code });
    }
    if (error.oclif?.exit === undefined && !(error instanceof Errors.CLIError)) {
      if (this.jsonEnabled()) this.logJson({ error: { code: 'E_INTERNAL', message: error.message } });
      throw new Errors.CLIError(error.message, { exit: ERROR_EXIT_CODES.E_INTERNAL });
    }
    if (this.jsonEnabled()) {
      this.logJson({ error: { code: error.oclif?.exit === 2 ? 'E_USAGE' : 'E_INTERNAL', message: error.message } });
    }
    throw error;
  }
}

export type FlagsOf<T extends typeof Command> = Interfaces.InferredFlags<T['flags'] & (typeof BaseCommand)['baseFlags']>;
