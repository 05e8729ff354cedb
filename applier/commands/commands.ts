import { containerLogCommand } from './container-log.js';
import { gcCommand } from './gc.js';
import { healthCommand } from './health.js';
import { logsCommand } from './logs.js';
import { rollbackCommand } from './rollback.js';
import { runCommand } from './run.js';
import { statusCommand } from './status.js';
import { stopCommand } from './stop.js';
import type { Subcommand } from './subcommand.js';
import { updateCommand } from './update.js';

/** Every `applier <command>`, in the order `applier --help` lists them; adding one is one entry. */
export const COMMANDS: readonly Subcommand[] = [updateCommand, statusCommand, runCommand, stopCommand, logsCommand, rollbackCommand, healthCommand, gcCommand, containerLogCommand];
