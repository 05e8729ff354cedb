import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import t, { type Test } from 'tap';
import { blobPath } from '../../../shared/store-layout.js';
import { bareApplierCommand, ensureApplierBundle } from '../../helpers/applier-bundle.js';
import { startFaultServer, type FaultServer } from '../../helpers/fault-server.js';
import { loopDevicesUnavailable, makeExt4Image, withLoopMount, withTmpfs } from '../../helpers/loop-device.js';
import { runProcess, runTool, type ProcessResult } from '../../helpers/run.js';
import { newSigner, publishTestRelease, trustRootJson, type FixtureEntry, type PublishedRelease } from '../../helpers/signed-artifact-store.js';
import { checkStore, knownReleases, type KnownReleases } from '../../helpers/store-invariant.js';
import { skipUnlessAvailable } from '../../helpers/required-features.js';
import { APPLIER_EXIT_CODES } from '../../../shared/errors.js';

const SMALL_LAYER: FixtureEntry[] = [
  { path: 'etc', type: 'directory', mode: 0o755 },
  { path: 'etc/version', type: 'file', mode: 0o644, content: '1\n' },
];

/** Version 1 (small) in an artifact store behind a fault server; `publishV2` adds version 2 with `layer`. */
interface DiskSetup {
  dir: string;
  server: FaultServer;
  known: KnownReleases;
  v2?: PublishedRelease;
  publishV2(): Promise<PublishedRelease>;
  update(store: string): Promise<ProcessResult>;
}

async function setup(t: Test, layer: FixtureEntry[]): Promise<DiskSetup> {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const signer = newSigner();
  await writeFile(join(dir, 'root.json'), trustRootJson([signer]));
  const publish = (version: number, layers: FixtureEntry[][]) => publishTestRelease({ storeDir: artifacts, channel: 'stable', version, layers, signers: [signer] });
  const files: Record<string, Buffer> = {};
  const serve = async () => {
    for (const entry of await readdir(artifacts, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) files[relative(artifacts, join(entry.parentPath, entry.name))] = await readFile(join(entry.parentPath, entry.name));
    }
  };
  const v1 = await publish(1, [SMALL_LAYER]);
  await serve();
  await ensureApplierBundle();
  const s: DiskSetup = {
    dir,
    server: await startFaultServer(t, files),
    known: await knownReleases([v1], await readFile(join(dir, 'root.json'))),
    async publishV2() {
      s.v2 = await publish(2, [SMALL_LAYER, layer]);
      s.known = await knownReleases([v1, s.v2], await readFile(join(dir, 'root.json')));
      await serve();
      return s.v2;
    },
    update: (store) =>
      runProcess(...bareApplierCommand(['update', '--source', s.server.url, '--channel', 'stable', '--store', store, '--trust', join(dir, 'root.json')])),
  };
  return s;
}

function expectDiskFailure(t: Test, result: ProcessResult, message: RegExp): void {
  t.equal(result.code, APPLIER_EXIT_CODES.E_DISK, 'E_DISK');
  t.match(result.stderr.trim().split('\n').at(-1), new RegExp(`^applier: E_DISK: .*${message.source}`));
}

const unavailable = skipUnlessAvailable(await loopDevicesUnavailable());

t.test('disk space and I/O errors', { skip: unavailable }, async (t) => {
  t.test('too little free space for the signed sizes: refused before any layer is downloaded', async (t) => {
    const s = await setup(t, [{ path: 'big.bin', type: 'file', mode: 0o644, content: randomBytes(12 * 1024 * 1024) }]);
    const store = join(s.dir, 'store');
    await mkdir(store);
    await withTmpfs(store, '8m', async () => {
      t.equal((await s.update(store)).code, 0, 'version 1 fits');
      const v2 = await s.publishV2();
      const result = await s.update(store);
      expectDiskFailure(t, result, /not enough free space for the update/);
      t.notOk(s.server.requests.some((request) => request.path === blobPath(v2.release.layers[1].blob.digest)), 'the layer was not fetched');
      t.same(await checkStore(store, s.known), { current: 1, previous: null, problems: [] }, 'version 1 stays, complete');
    });
  });

  t.test('a full disk during extraction: the attempt stops, staging goes, the current version stays', async (t) => {
    // 1500 small files: 1.5 MB of tar, but a 4 KiB page each on tmpfs
    const files = Array.from({ length: 1500 }, (_, i): FixtureEntry => ({ path: `many/f${i}`, type: 'file', mode: 0o644, content: randomBytes(100) }));
    const s = await setup(t, [{ path: 'many', type: 'directory', mode: 0o755 }, ...files]);
    const store = join(s.dir, 'store');
    await mkdir(store);
    await withTmpfs(store, '8m', async () => {
      t.equal((await s.update(store)).code, 0, 'version 1 fits');
      await s.publishV2();
      const result = await s.update(store);
      expectDiskFailure(t, result, /ENOSPC|no space/i);
      t.notOk((await readdir(store)).includes('staging'), 'staging was removed');
      t.same(await checkStore(store, s.known), { current: 1, previous: null, problems: [] }, 'version 1 stays, complete');
      await runTool('mount', ['-o', 'remount,size=64m', store]);
      t.equal((await s.update(store)).code, 0, 'with room, the same update succeeds');
      t.same(await checkStore(store, s.known), { current: 2, previous: 1, problems: [] });
    });
  });

  t.test('write-back errors from the disk (EIO at fsync): the attempt stops, the current version stays', async (t) => {
    const s = await setup(t, [{ path: 'big.bin', type: 'file', mode: 0o644, content: randomBytes(48 * 1024 * 1024) }]);
    // an ext4 loop device whose backing file lives on a tmpfs too small for it: writes past ~40 MiB fail in the device
    const backing = join(s.dir, 'backing');
    const mountPoint = join(s.dir, 'mnt');
    await mkdir(backing);
    await mkdir(mountPoint);
    await withTmpfs(backing, '40m', async () => {
      const image = join(backing, 'disk.img');
      await makeExt4Image(image, 256);
      const store = join(mountPoint, 'store');
      const failed = await withLoopMount(image, mountPoint, [], async () => {
        t.equal((await s.update(store)).code, 0, 'version 1 fits');
        await s.publishV2();
        return s.update(store);
      });
      expectDiskFailure(t, failed, /EIO|ENOSPC|EROFS|Input\/output|No space|Read-only/i);
      t.comment(`the applier said: ${failed.stderr.trim().split('\n').at(-1)}`);
      await runTool('mount', ['-o', 'remount,size=512m', backing]);
      const fsck = await runProcess('e2fsck', ['-f', '-y', image]);
      t.ok(fsck.code <= 1, `e2fsck repairs the file system (exit ${fsck.code})`);
      await withLoopMount(image, mountPoint, [], async () => {
        // the failing disk kept the applier from removing staging/: a state like a crash's
        t.same(await checkStore(store, s.known, 'interrupted'), { current: 1, previous: null, problems: [] }, 'version 1 survived, complete');
        t.equal((await s.update(store)).code, 0, 'on a healthy disk the same update succeeds');
        t.same(await checkStore(store, s.known), { current: 2, previous: 1, problems: [] });
      });
    });
  });
});
