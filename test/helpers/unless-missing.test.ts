import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { leftovers } from './container-store.js';
import { unlessMissing } from './unless-missing.js';

t.test('only a path that does not exist counts as absent', async (t) => {
  const dir = t.testdir({ file: 'not a directory' });
  t.equal(await unlessMissing(readdir(join(dir, 'nothing'))), null, 'ENOENT: absent');
  await t.rejects(unlessMissing(readdir(join(dir, 'file'))), { code: 'ENOTDIR' }, 'another error is thrown, not taken for an empty listing');
});

t.test('a containers/ the check cannot list is an error, not "no bundles left"', async (t) => {
  const root = t.testdir();
  await writeFile(join(root, 'containers'), '');
  await t.rejects(leftovers({ root, name: 'app', layerDirs: [], manifests: [] }), { code: 'ENOTDIR' });
});
