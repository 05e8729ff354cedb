import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { plainNodeCommand, REPO_ROOT, runCli, runProcess } from '../helpers/run.js';

const CLI = join(REPO_ROOT, 'cli', 'bin', 'run.js');
const shellQuote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`;

t.test('prtiql help <command> prints the command\'s help', async (t) => {
  const run = await runCli(['help', 'release']);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /Publish an image as a signed release on a channel\./);
  t.match(run.stdout, /--release-version=<value>/);
  t.match(run.stdout, /--\[no-\]deltas/);
  const topic = await runCli(['help', 'keys', 'generate']);
  t.match(topic.stdout, /Create a release signing key/);
});

t.test('a mistyped command is named, suggested on a terminal, and exits 127', async (t) => {
  const piped = await runCli(['relase']);
  t.equal(piped.code, 127);
  t.match(piped.stderr, /relase.* is not a prtiql command/);
  // on a terminal (script gives the command one) the user is asked about the closest command
  const [node, args] = plainNodeCommand([CLI, 'relase']);
  const terminal = await runProcess('script', ['-qec', [node, ...args].map(shellQuote).join(' '), '/dev/null'], { input: 'n\n' });
  t.match(terminal.stdout, /Did you mean .*release/);
  t.equal(terminal.code, 127, 'answered no: no command runs');
});

t.test('prtiql autocomplete builds completions that know every command and flag', async (t) => {
  const home = t.testdir();
  const env = { ...process.env, HOME: home, XDG_CACHE_HOME: join(home, '.cache') };
  const instructions = await runCli(['autocomplete', 'bash'], { env });
  t.equal(instructions.code, 0, instructions.stderr);
  t.match(instructions.stdout, /prtiql autocomplete script bash/);
  const bash = await readFile(join(home, '.cache', 'prtiql', 'autocomplete', 'functions', 'bash', 'prtiql.bash'), 'utf8');
  for (const word of ['release', 'keys:generate', '--release-version', '--store', '--metadata-file']) t.ok(bash.includes(word), `completes ${word}`);
});
