import { APPLIER_EXIT_CODES, asPrtiqlError, PrtiqlError } from '../shared/errors.js';
import { COMMANDS } from './commands/commands.js';
import { applierHelp, commandHelp } from './commands/help.js';
import type { Subcommand } from './commands/subcommand.js';
import { applierVersion } from './version.js';

function findCommand(name: string): Subcommand {
  const command = COMMANDS.find((candidate) => candidate.declaration.name === name);
  if (command) return command;
  const listed = COMMANDS.filter((candidate) => !candidate.declaration.hidden).map((candidate) => candidate.declaration.name);
  throw new PrtiqlError('E_USAGE', `unknown command ${JSON.stringify(name)}; the commands are ${listed.join(', ')} (see applier --help)`);
}

async function main([name, ...args]: string[]): Promise<number> {
  if (name === undefined) throw new PrtiqlError('E_USAGE', 'no command given (see applier --help)');
  if (name === '--help' || name === '-h' || (name === 'help' && args.length === 0)) {
    process.stdout.write(applierHelp(COMMANDS));
    return 0;
  }
  if (name === '--version') {
    process.stdout.write(`${applierVersion()}\n`);
    return 0;
  }
  if (name === 'help') {
    if (args.length > 1) throw new PrtiqlError('E_USAGE', 'help takes one command name');
    process.stdout.write(commandHelp(findCommand(args[0]!)));
    return 0;
  }
  return findCommand(name).run(args);
}

/**
 * A failure is one line on stderr, `applier: <code>: <message>`, whatever the log format;
 * under --json the same code and message are also the JSON object on stdout.
 */
function reportFailure(thrown: unknown, argv: string[]): number {
  const error = asPrtiqlError(thrown);
  const message = error.message.replace(/\s*\n\s*/g, ' ').trim();
  const [name, ...args] = argv;
  const command = COMMANDS.find((candidate) => candidate.declaration.name === name);
  const options = args.slice(0, args.includes('--') ? args.indexOf('--') : undefined);
  if (command && Object.hasOwn(command.options, 'json') && options.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ error: { code: error.code, message } }, null, 2)}\n`);
  }
  process.stderr.write(`applier: ${error.code}: ${message}\n`);
  return APPLIER_EXIT_CODES[error.code];
}

const argv = process.argv.slice(2);
main(argv).then(
  (status) => process.exit(status),
  (thrown: unknown) => process.exit(reportFailure(thrown, argv)),
);
