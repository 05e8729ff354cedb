import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { silentLogger } from '../../../applier/log.js';
import { openSource } from '../../../applier/update/fetch/source.js';
import { storeStatus } from '../../../applier/device-store/status.js';
import { DeviceStore } from '../../../applier/device-store/device-store.js';
import { update } from '../../../applier/update/update.js';
import { runApplier } from '../../helpers/applier-bundle.js';
import { newSigner, publishTestRelease, trustRootJson } from '../../helpers/signed-artifact-store.js';
import { APPLIER_EXIT_CODES } from '../../../shared/errors.js';

const layers = [[{ path: 'hello', type: 'file' as const, mode: 0o644, content: 'hi\n' }]];

async function snapshot(path: string): Promise<{ mode: number; entries: string[] }> {
  return { mode: (await stat(path)).mode, entries: (await readdir(path)).sort() };
}

t.test('update refuses, untouched, a --store that is neither a store nor an empty directory', async (t) => {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const signer = newSigner();
  await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 1, layers, signers: [signer] });
  const trust = join(dir, 'root.json');
  await writeFile(trust, trustRootJson([signer]));
  const run = (storeRoot: string, trustPath = trust) =>
    update({ source: openSource(`file://${artifacts}`), channel: 'stable', storeRoot, trustPath, log: silentLogger });

  const shared = join(dir, 'shared-tmp');
  await mkdir(shared);
  await writeFile(join(shared, 'someone-elses-file'), 'x');
  await chmod(shared, 0o1777);
  const before = await snapshot(shared);
  await t.rejects(run(shared), { code: 'E_USAGE', message: /is neither an applier store nor an empty directory \(it holds "someone-elses-file"\)/ });
  t.same(await snapshot(shared), before, 'the sticky directory keeps its mode and holds no store file');

  const file = join(dir, 'a-file');
  await writeFile(file, 'content');
  await t.rejects(run(file), { code: 'E_USAGE', message: /a-file is not a directory: refusing to use it as an applier store/ }, '--store naming a file');
  t.equal(await readFile(file, 'utf8'), 'content');

  const unborn = join(dir, 'unborn');
  await writeFile(join(dir, 'garbage.json'), 'not a root');
  await t.rejects(run(unborn, join(dir, 'garbage.json')), { code: 'E_BAD_INPUT' }, 'a bad --trust file');
  await t.rejects(run(unborn, join(dir, 'missing.json')), { code: 'E_NOT_FOUND' }, 'a missing --trust file');
  await t.rejects(stat(unborn), { code: 'ENOENT' }, 'arguments are checked before the store is created');

  const empty = join(dir, 'empty');
  await mkdir(empty, { mode: 0o755 });
  t.match(await run(empty), { changed: true, version: 1 }, 'an empty directory becomes a store');
  t.equal((await stat(empty)).mode & 0o7777, 0o700);
  t.match(await run(empty), { changed: false }, 'and is then used as a store');
});

t.test('commands on an existing store refuse a directory that is not one', async (t) => {
  const dir = t.testdir({ etc: { passwd: 'root:x:0:0::/root:/bin/sh\n', 'hosts': '127.0.0.1 localhost\n' }, empty: {} });
  await t.rejects(DeviceStore.open(join(dir, 'etc')), { code: 'E_NO_STORE' });
  await t.rejects(DeviceStore.open(join(dir, 'empty')), { code: 'E_NO_STORE' });
  await t.rejects(DeviceStore.open(join(dir, 'etc', 'passwd')), { code: 'E_NO_STORE' });
  await t.rejects(storeStatus(join(dir, 'etc')), { code: 'E_NO_STORE' });
  const created = await DeviceStore.create(join(dir, 'store'));
  t.equal((await DeviceStore.open(created.root)).root, created.root);

  const status = await runApplier(['status', '--store', join(dir, 'etc')]);
  t.equal(status.code, APPLIER_EXIT_CODES.E_NO_STORE, 'status --store <not a store> is E_NO_STORE');
  t.match(status.stderr, /E_NO_STORE: no applier store at/);
  const onFile = await runApplier(['update', '--source', `file://${dir}`, '--channel', 'stable', '--store', join(dir, 'etc', 'passwd')]);
  t.equal(onFile.code, APPLIER_EXIT_CODES.E_USAGE, 'update --store <a file> is a usage error');
  t.match(onFile.stderr, /E_USAGE: .*passwd is not a directory/);
});
