import { lstat, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import { acquireStoreLock } from '../../../applier/device-store/lock.js';
import { DeviceStore } from '../../../applier/device-store/device-store.js';
import { digestHex } from '../../../shared/digest.js';
import { APPLIER_EXIT_CODES, type ErrorCode } from '../../../shared/errors.js';
import { serveDirectory } from '../../../scripts/lib/static-server.js';
import { runApplier } from '../../helpers/applier-bundle.js';
import type { ProcessResult } from '../../helpers/run.js';
import {
  FIXTURE_MTIME,
  newSigner,
  publishTestRelease,
  trustRootJson,
  type FixtureEntry,
  type PublishedRelease,
  type Signer,
} from '../../helpers/signed-artifact-store.js';
import { storedLayerTar } from '../../helpers/stored-layer-tar.js';
import { releasePath, resignRelease } from '../../helpers/trust-fixtures.js';
import { listTree } from '../../helpers/tree-listing.js';

const BASE_LAYER: FixtureEntry[] = [
  { path: 'bin', type: 'directory', mode: 0o755 },
  { path: 'bin/tool', type: 'file', mode: 0o4755, uid: 0, gid: 50, content: '#!/bin/sh\necho tool\n' },
  { path: 'bin/tool-alias', type: 'symlink', mode: 0o777, linkname: 'tool' },
  { path: 'bin/tool-hard', type: 'link', mode: 0o755, linkname: 'bin/tool' },
  { path: 'etc', type: 'directory', mode: 0o755 },
  { path: 'etc/motd', type: 'file', mode: 0o644, content: 'welcome\n' },
];

const appLayer = (version: number): FixtureEntry[] => [
  { path: 'app', type: 'directory', mode: 0o750, uid: 1000, gid: 1000 },
  { path: 'app/version', type: 'file', mode: 0o640, uid: 1000, gid: 1000, content: `${version}\n` },
  { path: 'app/data.bin', type: 'file', mode: 0o600, content: Buffer.alloc(3 * 1024 * 1024 + 17, version) },
  { path: 'etc', type: 'directory', mode: 0o755 },
  { path: 'etc/.wh.motd', type: 'file', mode: 0o644, content: '' },
];

interface Setup {
  artifacts: string;
  store: string;
  trust: string;
  signer: Signer;
  sourceUrl: string;
  publish(version: number): Promise<PublishedRelease>;
  update(extra?: string[]): Promise<ProcessResult>;
  status(): Promise<{ installed: { version: number; manifest: string } | null; previous: unknown; current: { manifest: string; layers: { diffID: string; path: string }[] } | null }>;
}

async function setup(t: Test, transport: 'http' | 'file'): Promise<Setup> {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  await mkdir(artifacts);
  const store = join(dir, 'device', 'store');
  const trust = join(dir, 'root.json');
  const signer = newSigner();
  await writeFile(trust, trustRootJson([signer]));
  let sourceUrl = pathToFileURL(artifacts).href;
  if (transport === 'http') {
    const server = await serveDirectory(artifacts);
    t.teardown(() => server.close());
    sourceUrl = server.url;
  }
  return {
    artifacts,
    store,
    trust,
    signer,
    sourceUrl,
    publish: (version) => publishTestRelease({ storeDir: artifacts, channel: 'stable', version, layers: [BASE_LAYER, appLayer(version)], signers: [signer] }),
    update: (extra = []) => runApplier(['update', '--source', sourceUrl, '--channel', 'stable', '--store', store, '--trust', trust, ...extra]),
    status: async () => {
      const result = await runApplier(['status', '--json', '--store', store]);
      if (result.code !== 0) throw new Error(`status failed: ${result.stderr}`);
      return JSON.parse(result.stdout);
    },
  };
}

/** The committed layer directory holds exactly the fixture entries with their attributes. */
async function expectLayer(t: Test, dir: string, entries: FixtureEntry[]): Promise<void> {
  const listed = (await listTree(dir)).filter((node) => node.path !== '.');
  t.same(listed.map((node) => node.path).sort(), entries.map((entry) => entry.path).sort(), 'same paths');
  for (const entry of entries) {
    const node = listed.find((n) => n.path === entry.path);
    if (!node) continue;
    t.equal(node.mtimeMs, FIXTURE_MTIME * 1000, `${entry.path} mtime`);
    if (entry.type === 'symlink') {
      t.equal(node.linkname, entry.linkname, `${entry.path} target`);
      continue;
    }
    if (entry.type === 'link') {
      t.equal(node.ino, listed.find((n) => n.path === entry.linkname)?.ino, `${entry.path} is a hard link`);
      continue;
    }
    t.match(node, { type: entry.type, mode: entry.mode, uid: entry.uid ?? 0, gid: entry.gid ?? 0 }, `${entry.path} attributes`);
    if (entry.type === 'file') t.equal(node.content, Buffer.from(entry.content ?? '').toString('base64'), `${entry.path} content`);
  }
}

function expectFailure(t: Test, result: ProcessResult, code: ErrorCode, message: RegExp): void {
  t.equal(result.code, APPLIER_EXIT_CODES[code], `exit code of ${code}`);
  const lines = result.stderr.trim().split('\n');
  const last = lines.at(-1) ?? '';
  t.match(last, new RegExp(`^applier: ${code}: `), 'one-line message with the code');
  t.match(last, message);
  const logged = lines.slice(0, -1).map((line) => JSON.parse(line) as { level: string; code?: string; message?: string });
  t.notOk(
    logged.some((entry) => entry.code === code && last.endsWith(entry.message ?? '')),
    'the failure is printed once, not repeated as a log line',
  );
  t.equal(result.stdout, '', 'nothing on stdout');
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

for (const transport of ['http', 'file'] as const) {
  t.test(`update over ${transport}: v1, then v2 fetching only the changed layer, then nothing to do`, async (t) => {
    const s = await setup(t, transport);
    const v1 = await s.publish(1);
    const first = await s.update();
    t.equal(first.code, 0, first.stderr);
    t.match(first.stdout, /channel stable updated to version 1 .*2 layer\(s\) installed/);
    const status1 = await s.status();
    t.match(status1, { installed: { version: 1, manifest: v1.manifestDigest }, previous: null });
    t.same(
      status1.current?.layers.map((layer) => layer.diffID),
      v1.release.layers.map((layer) => layer.diffID),
    );
    const [baseDir, app1Dir] = status1.current?.layers.map((layer) => layer.path) ?? [];
    await expectLayer(t, baseDir, BASE_LAYER);
    await expectLayer(t, app1Dir, appLayer(1));
    const device = await DeviceStore.open(s.store);
    t.ok((await storedLayerTar(device, v1.release.layers[0].diffID)).equals(v1.layerTars[0]), 'base layer metadata rebuilds its tar');
    t.ok((await storedLayerTar(device, v1.release.layers[1].diffID)).equals(v1.layerTars[1]), 'app layer metadata rebuilds its tar');
    t.equal((await lstat(s.store)).mode & 0o777, 0o700, 'store is private');

    const v2 = await s.publish(2);
    const second = await s.update();
    t.equal(second.code, 0, second.stderr);
    t.match(second.stdout, /updated to version 2 .*1 layer\(s\) installed/, 'the shared base layer is not fetched again');
    const status2 = await s.status();
    t.match(status2, { installed: { version: 2, manifest: v2.manifestDigest }, previous: { version: 1, manifest: v1.manifestDigest } });
    await expectLayer(t, status2.current?.layers[1].path ?? '', appLayer(2));
    t.equal(await readlink(join(s.store, 'current')), `images/${digestHex(v2.manifestDigest)}`);
    t.equal(await readlink(join(s.store, 'previous')), `images/${digestHex(v1.manifestDigest)}`);
    const stateBytes = await readFile(join(s.store, 'state.json'), 'utf8');
    t.same(JSON.parse(stateBytes), {
      channel: 'stable',
      installed: { version: 2, manifest: v2.manifestDigest },
      previous: { version: 1, manifest: v1.manifestDigest },
      highestSeen: 2,
      timeFloor: v2.release.created,
    });

    const before = await listTree(s.store);
    const again = await s.update();
    t.equal(again.code, 0, again.stderr);
    t.match(again.stdout, /already at version 2; nothing to do/);
    t.same(await listTree(s.store), before, 'a run with nothing to do changes nothing in the store');

    await s.publish(3);
    const third = await s.update(['--trust', s.trust]);
    t.equal(third.code, 0, third.stderr);
    t.notOk(await exists(join(s.store, 'images', digestHex(v1.manifestDigest))), 'image v1 is collected once neither pointer names it');
    t.notOk(await exists(app1Dir), 'layers only v1 used are collected');
    t.notOk(await exists(`${app1Dir}.meta`), 'with their metadata');
    t.ok(await exists(baseDir), 'the shared base layer stays');
  });
}

t.test('failures exit with their code and one line, and leave the installed release in place', async (t) => {
  const s = await setup(t, 'http');
  const v1 = await s.publish(1);
  const pointer = releasePath(s.artifacts);
  const v1Release = await readFile(pointer);
  t.equal((await s.update()).code, 0);
  const installedListing = async () => (await listTree(s.store)).filter((node) => !['state.json', 'lock'].includes(node.path));
  const before = await installedListing();
  const expectUnchanged = async (what: string) => {
    const status = await s.status();
    t.match(status.installed, { version: 1, manifest: v1.manifestDigest }, `${what}: still at version 1`);
    t.equal(await readlink(join(s.store, 'current')), `images/${digestHex(v1.manifestDigest)}`, `${what}: current untouched`);
    t.notOk(await exists(join(s.store, 'staging')), `${what}: staging removed`);
  };

  const v2 = await s.publish(2);
  const v2Release = await readFile(pointer);
  const goodBlob = await readFile(v2.layerBlobPaths[1]);
  const blob = Buffer.from(goodBlob);
  blob[Math.floor(blob.length / 2)] ^= 0x55;
  await writeFile(v2.layerBlobPaths[1], blob);
  expectFailure(t, await s.update(), 'E_DIGEST_MISMATCH', /does not match its signed hash/);
  await expectUnchanged('tampered blob');
  t.same((await installedListing()).map((n) => n.path), before.map((n) => n.path), 'no new layer or image');
  await writeFile(v2.layerBlobPaths[1], goodBlob);

  await resignRelease(s.artifacts, [newSigner()], () => undefined);
  expectFailure(t, await s.update(), 'E_UNTRUSTED_KEY', /not signed by any trusted key/);
  await expectUnchanged('unknown key');

  const envelope = JSON.parse(v2Release.toString('utf8'));
  const payload = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
  envelope.payload = Buffer.from(JSON.stringify({ ...payload, version: 9 })).toString('base64');
  await writeFile(pointer, JSON.stringify(envelope));
  expectFailure(t, await s.update(), 'E_BAD_SIGNATURE', /invalid signature/);
  await expectUnchanged('altered payload');

  expectFailure(
    t,
    await runApplier(['update', '--source', s.sourceUrl, '--channel', 'beta', '--store', join(s.store, '..', 'beta'), '--trust', s.trust]),
    'E_UNKNOWN_CHANNEL',
    /channel beta has no release/,
  );
  await expectUnchanged('unknown channel');

  expectFailure(
    t,
    await runApplier(['update', '--source', s.sourceUrl, '--channel', 'beta', '--store', s.store]),
    'E_USAGE',
    /store follows channel stable, not beta/,
  );
  await expectUnchanged('other channel');

  const lock = await acquireStoreLock(join(s.store, 'lock'));
  await writeFile(pointer, v2Release);
  expectFailure(t, await s.update(), 'E_BUSY', /another applier holds the store lock/);
  await lock.release();
  await expectUnchanged('busy store');

  const installed = await s.update();
  t.equal(installed.code, 0, 'a good version 2 installs after all that');
  // an attacker serving the older release again
  await writeFile(pointer, v1Release);
  expectFailure(t, await s.update(), 'E_ROLLBACK', /lower than the installed version 2/);
  t.match((await s.status()).installed, { version: 2 });

  expectFailure(t, await runApplier(['status', '--store', join(s.store, 'missing')]), 'E_NO_STORE', /no applier store/);
  expectFailure(t, await runApplier(['update', '--channel', 'stable', '--store', s.store]), 'E_USAGE', /--source is required/);
});
