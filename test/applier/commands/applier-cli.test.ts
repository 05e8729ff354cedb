import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { APPLIER_EXIT_CODES } from '../../../shared/errors.js';
import { COMMANDS } from '../../../applier/commands/commands.js';
import { applierHelp, commandHelp } from '../../../applier/commands/help.js';
import { DeviceStore } from '../../../applier/device-store/device-store.js';
import { bareApplierCommand, ensureApplierBundle } from '../../helpers/applier-bundle.js';
import { REPO_ROOT, runProcess } from '../../helpers/run.js';

/** The environment without the log variables the test sets itself. */
function environment(variables: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { PRTIQL_LOG_LEVEL: _level, PRTIQL_LOG_FORMAT: _format, ...rest } = process.env;
  return { ...rest, ...variables };
}

const applier = (args: string[], variables?: NodeJS.ProcessEnv) => runProcess(...bareApplierCommand(args), { env: environment(variables) });

/** Runs the applier with stdout and stderr on a terminal (util-linux `script`): its exit code and what the terminal showed. */
async function onTerminal(args: string[]): Promise<{ code: number; shown: string }> {
  const [command, commandArgs] = bareApplierCommand(args);
  const quoted = [command, ...commandArgs].map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(' ');
  const result = await runProcess('script', ['--quiet', '--return', '--command', quoted, '/dev/null'], { env: environment() });
  return { code: result.code, shown: result.stdout.replaceAll('\r\n', '\n') };
}

t.before(ensureApplierBundle);

t.test('help: the command list, each command\'s own, and the version', async (t) => {
  for (const args of [['--help'], ['-h'], ['help']]) {
    const result = await applier(args);
    t.equal(result.code, 0, args.join(' '));
    t.equal(result.stdout, applierHelp(COMMANDS), `${args.join(' ')} prints the command list`);
    t.equal(result.stderr, '');
  }
  for (const command of COMMANDS) {
    const result = await applier([command.declaration.name, '--help']);
    t.equal(result.code, 0, `${command.declaration.name} --help`);
    t.equal(result.stdout, commandHelp(command), `${command.declaration.name} --help prints its help`);
  }
  for (const args of [['update', '-h'], ['help', 'update'], ['update', '--source', 'x', '--help']]) {
    const result = await applier(args);
    t.equal(result.code, 0, args.join(' '));
    t.match(result.stdout, /^applier update: install the newest signed release.*\n\nusage:\n  applier update --source <url> --channel <name> --store <dir> \[options\]\n/s, args.join(' '));
  }
  const version = await applier(['--version']);
  t.equal(version.code, 0);
  t.equal(version.stdout, `${JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')).version}\n`);
});

t.test('a failure is one line on stderr with its code; --json makes it a JSON object on stdout, with the same exit code', async (t) => {
  const missing = join(t.testdir(), 'missing');
  for (const [args, code, line] of [
    [[], APPLIER_EXIT_CODES.E_USAGE, /^applier: E_USAGE: no command given \(see applier --help\)\n$/],
    [['frob'], APPLIER_EXIT_CODES.E_USAGE, /^applier: E_USAGE: unknown command "frob"; the commands are update, status, run, stop, logs, rollback, health, gc \(see applier --help\)\n$/],
    [['help', 'frob'], APPLIER_EXIT_CODES.E_USAGE, /^applier: E_USAGE: unknown command "frob"/],
    [['update', '--help', '--bogus'], APPLIER_EXIT_CODES.E_USAGE, /^applier: E_USAGE: update: Unknown option '--bogus'/],
    [['status', '--store', missing], APPLIER_EXIT_CODES.E_NO_STORE, /^applier: E_NO_STORE: no applier store at .*missing\n$/],
  ] as const) {
    const result = await applier([...args]);
    t.equal(result.code, code, args.join(' '));
    t.match(result.stderr, line, `${args.join(' ')}: once, and nothing else`);
    t.equal(result.stdout, '', `${args.join(' ')}: nothing on stdout`);
  }

  for (const [args, code, errorCode] of [
    [['status', '--store', missing, '--json'], APPLIER_EXIT_CODES.E_NO_STORE, 'E_NO_STORE'],
    [['status', '--json', '--store', missing, '--bogus'], APPLIER_EXIT_CODES.E_USAGE, 'E_USAGE'],
    [['gc', '--json'], APPLIER_EXIT_CODES.E_USAGE, 'E_USAGE'],
    [['rollback', '--store', missing, '--json'], APPLIER_EXIT_CODES.E_NO_STORE, 'E_NO_STORE'],
    [['health', 'clear', '2', '--store', missing, '--json'], APPLIER_EXIT_CODES.E_NO_STORE, 'E_NO_STORE'],
    [['update', '--source', 'file://host/x', '--channel', 'stable', '--store', missing, '--json'], APPLIER_EXIT_CODES.E_USAGE, 'E_USAGE'],
  ] as const) {
    const result = await applier([...args]);
    t.equal(result.code, code, args.join(' '));
    const printed = JSON.parse(result.stdout) as { error: { code: string; message: string } };
    t.same(Object.keys(printed), ['error'], `${args.join(' ')}: one JSON object`);
    t.equal(printed.error.code, errorCode);
    t.equal(result.stderr, `applier: ${errorCode}: ${printed.error.message}\n`, 'the same error, once, on stderr');
  }
  const notJson = await applier(['stop', '--store', missing, '--json']);
  t.equal(notJson.code, APPLIER_EXIT_CODES.E_USAGE, 'a command without --json refuses it');
  t.equal(notJson.stdout, '', 'and prints no JSON');
});

t.test('results under --json', async (t) => {
  const store = join(t.testdir(), 'store');
  await DeviceStore.create(store);
  const gc = await applier(['gc', '--store', store, '--json']);
  t.equal(gc.code, 0);
  t.same(JSON.parse(gc.stdout), { images: 0, layers: 0 });
  const status = await applier(['status', '--store', store, '--json']);
  t.equal(status.code, 0);
  t.match(JSON.parse(status.stdout), { store, channel: null, installed: null });
});

t.test('log lines: --log-level or PRTIQL_LOG_LEVEL; JSON unless stderr is a terminal, --log-format or PRTIQL_LOG_FORMAT to choose', async (t) => {
  const store = join(t.testdir(), 'store');
  await DeviceStore.create(store);
  const gc = (args: string[] = [], variables?: NodeJS.ProcessEnv) => applier(['gc', '--store', store, ...args], variables);
  const infoJson = /^\{"time":"[^"]+","level":"info","event":"store\.garbage-collected","images":0,"layers":0\}\n$/;
  const infoText = /^\d\d:\d\d:\d\d\.\d{3} INFO {2}store\.garbage-collected images=0 layers=0\n$/;

  t.match((await gc()).stderr, infoJson, 'info and JSON by default when stderr is a pipe');
  t.equal((await gc(['--log-level', 'warn'])).stderr, '', '--log-level warn hides info');
  t.equal((await gc([], { PRTIQL_LOG_LEVEL: 'error' })).stderr, '', 'so does PRTIQL_LOG_LEVEL');
  t.match((await gc(['--log-level', 'info'], { PRTIQL_LOG_LEVEL: 'error' })).stderr, infoJson, 'the option wins over the variable');
  const debug = await gc(['--log-level', 'debug']);
  t.match(debug.stderr, /^\{"time":"[^"]+","level":"debug","event":"command\.started","command":"gc","version":"[^"]+","cwd":"[^"]+"\}\n\{[^\n]*"level":"info"/);
  const refused = await gc([], { PRTIQL_LOG_LEVEL: 'loud' });
  t.equal(refused.code, APPLIER_EXIT_CODES.E_USAGE);
  t.equal(refused.stderr, 'applier: E_USAGE: gc: PRTIQL_LOG_LEVEL is error, warn, info, debug, not "loud" (see applier gc --help)\n');

  t.match((await gc(['--log-format', 'text'])).stderr, infoText, '--log-format text');
  t.match((await gc([], { PRTIQL_LOG_FORMAT: 'text' })).stderr, infoText, 'PRTIQL_LOG_FORMAT=text');
  t.equal((await gc(['--log-format', 'yaml'])).code, APPLIER_EXIT_CODES.E_USAGE);

  t.match(await onTerminal(['gc', '--store', store]), { code: 0, shown: /^\d\d:\d\d:\d\d\.\d{3} INFO {2}store\.garbage-collected images=0 layers=0\nremoved 0 image\(s\) and 0 layer\(s\)\n$/ }, 'text on a terminal');
  t.match(await onTerminal(['gc', '--store', store, '--log-format', 'json']), { code: 0, shown: /^\{"time":"[^"]+","level":"info","event":"store\.garbage-collected"/ }, 'JSON when asked for');
  t.match(await onTerminal(['status', '--store', join(store, 'missing')]), { code: APPLIER_EXIT_CODES.E_NO_STORE, shown: /^applier: E_NO_STORE: no applier store at \S+missing\n$/ }, 'an error on a terminal: the same one line');
});
