import { APPLIER_EXIT_CODES, asPrtiqlError, PrtiqlError } from '../shared/errors.js';
import { containerLogCommand } from './commands/container-log.js';
import { gcCommand } from './commands/gc.js';
import { healthCommand } from './commands/health.js';
import { logsCommand } from './commands/logs.js';
import { rollbackCommand } from './commands/rollback.js';
import { runCommand } from './commands/run.js';
import { statusCommand } from './commands/status.js';
import { stopCommand } from './commands/stop.js';
import type { Subcommand } from './commands/subcommand.js';
import { applyUnsafeNoFsync } from './commands/unsafe-no-fsync.js';
import { updateCommand } from './commands/update.js';
import { createLogger } from './log.js';

/** Every subcommand; adding one is one line. */
const COMMANDS: Record<string, Subcommand> = {
  update: updateCommand,
  status: statusCommand,
  run: runCommand,
  stop: stopCommand,
  logs: logsCommand,
  'container-log': containerLogCommand,
  gc: gcCommand,
  rollback: rollbackCommand,
  health: healthCommand,
};


function usage(): string {
  const lines = Object.values(COMMANDS).map((command) => `  ${command.summary}`);
  return `usage: applier <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  const command = name === undefined ? undefined : Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    process.stderr.write(usage());
    throw new PrtiqlError('E_USAGE', name === undefined ? 'no command given' : `unknown command ${JSON.stringify(name)}`);
  }
  applyUnsafeNoFsync(process.env, createLogger());
  return command.run(args);
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (thrown: unknown) => {
    const error = asPrtiqlError(thrown);
    const message = error.message.replace(/\s*\n\s*/g, ' ');
    createLogger().error('failed', { code: error.code, message });
    process.stderr.write(`applier: ${error.code}: ${message}\n`);
    process.exit(APPLIER_EXIT_CODES[error.code]);
  },
);
