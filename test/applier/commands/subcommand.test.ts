import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import t from 'tap';
import { parseContainerName, parseSeconds } from '../../../applier/commands/container-options.js';
import { parseOptions, requireOption } from '../../../applier/commands/subcommand.js';
import { sourceFiles } from '../../helpers/source-files.js';

const applierRoot = join(import.meta.dirname, '../../../applier');

t.test('argv is parsed only in applier/commands/', async (t) => {
  const parsing = sourceFiles(applierRoot)
    .map((path) => relative(applierRoot, path))
    .filter((file) => !file.startsWith('commands/') && file !== 'main.ts')
    .filter((file) => /\bparseArgs\b|commands\/(subcommand|container-options)\.js/.test(readFileSync(join(applierRoot, file), 'utf8')));
  t.same(parsing, []);
});

t.test('option mistakes are E_USAGE naming the command', async (t) => {
  t.same(parseOptions('gc', ['--store', '/s'], { store: { type: 'string' } }), { store: '/s' });
  t.throws(() => parseOptions('gc', ['--stor', '/s'], { store: { type: 'string' } }), { code: 'E_USAGE', message: /^gc: / });
  t.throws(() => parseOptions('gc', ['stray'], { store: { type: 'string' } }), { code: 'E_USAGE' });
  t.throws(() => requireOption('gc', undefined, 'store'), { code: 'E_USAGE', message: 'gc: --store is required' });
  t.throws(() => requireOption('gc', '', 'store'), { code: 'E_USAGE' });
});

t.test('container names are runc ids and directory names; seconds are non-negative numbers', async (t) => {
  t.equal(parseContainerName('run', 'web-1.a_b+c'), 'web-1.a_b+c');
  for (const bad of ['', '..', '.hidden', 'a/b', 'a b', 'x'.repeat(129)]) {
    t.throws(() => parseContainerName('run', bad), { code: 'E_USAGE' }, JSON.stringify(bad));
  }
  t.equal(parseSeconds('stop', 'timeout', '2.5'), 2.5);
  for (const bad of ['', ' ', '-1', 'ten', 'Infinity']) t.throws(() => parseSeconds('stop', 'timeout', bad), { code: 'E_USAGE' }, JSON.stringify(bad));
});
