import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { REPO_ROOT, runProcess } from '../helpers/run.js';

const BUNDLE_SCRIPT = join(REPO_ROOT, 'scripts', 'bundle-applier.mjs');
/** DESIGN §7: one file, at most 200 KB minified. */
const BUDGET_BYTES = 200_000;

t.test('the applier bundles into one small self-contained file that runs with plain node', async (t) => {
  const dir = t.testdir();
  const outfile = join(dir, 'applier.js');
  const built = await runProcess(process.execPath, [BUNDLE_SCRIPT, '--outfile', outfile]);
  t.equal(built.code, 0, built.stderr);
  const { size } = await stat(outfile);
  t.match(built.stdout, new RegExp(`: ${size} bytes`), 'prints the bundle size');
  t.ok(size <= BUDGET_BYTES, `${size} bytes is within the ${BUDGET_BYTES}-byte budget`);
  const text = await readFile(outfile, 'utf8');
  t.ok(text.startsWith('#!/usr/bin/env node\n'), 'has a shebang');
  t.notMatch(text, /\brequire\(["'](?!node:)/, 'no require of anything but built-ins');
  // `from` as a keyword, not the end of a name such as the syscall "recvfrom"
  t.notMatch(text, /(?<![\w$])from\s*["'](?!node:)[^"']+["']/, 'no import of anything but built-ins');
  t.notMatch(text, /process\.dlopen|\.node["'`]/, 'no native addon');
  t.notMatch(text, /WebAssembly/, 'no WebAssembly');
  const help = await runProcess(process.execPath, [outfile, '--help'], { cwd: dir });
  t.equal(help.code, 0);
  t.match(help.stdout, /update --source/);
  t.match(help.stdout, /status --store/);
});

t.test('a bundle that would pull in build-side code is refused', async (t) => {
  const dir = t.testdir();
  const entry = join(dir, 'entry.ts');
  await writeFile(entry, "import { Command } from '@oclif/core';\nconsole.log(Command.name);\n");
  const outfile = join(dir, 'refused.js');
  const built = await runProcess(process.execPath, [BUNDLE_SCRIPT, '--entry', entry, '--outfile', outfile]);
  t.equal(built.code, 1);
  t.match(built.stderr, /contains build-side code:\n\s+node_modules\/@oclif\/core\//);
  await t.rejects(stat(outfile), { code: 'ENOENT' }, 'no bundle is written');
});
