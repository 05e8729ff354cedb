import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { digestHex } from '../../../shared/digest.js';
import type { BlobRef } from '../../../shared/release.js';
import { blobPath } from '../../../shared/store-layout.js';
import { ensureApplierBundle, runApplier } from '../../helpers/applier-bundle.js';
import type { FaultServer } from '../../helpers/fault-server.js';
import { startApplier } from '../../helpers/running-applier.js';
import { serveOneFileRelease } from '../../helpers/served-release.js';
import { checkStore, knownReleases, type KnownReleases } from '../../helpers/store-invariant.js';

interface ResumeSetup {
  server: FaultServer;
  store: string;
  known: KnownReleases;
  /** The compressed blob of the release's one layer (3 MiB of random bytes, 12 chunks). */
  blob: BlobRef;
  blobBytes: Buffer;
  staged: string;
  args: string[];
  /** Body bytes the server sent of the layer blob, in the requests from index `from` on. */
  blobBytesSent(from: number): number;
}

async function setup(t: Test): Promise<ResumeSetup> {
  const { dir, trustPath, published, files, server } = await serveOneFileRelease(t, randomBytes(3 * 1024 * 1024));
  const blob = published.release.layers[0].blob;
  const store = join(dir, 'store');
  await ensureApplierBundle();
  return {
    server,
    store,
    known: await knownReleases([published], await readFile(trustPath)),
    blob,
    blobBytes: files[blobPath(blob.digest)],
    staged: join(store, 'staging', 'downloads', digestHex(blob.digest)),
    args: ['update', '--source', server.url, '--channel', 'stable', '--store', store, '--trust', trustPath],
    blobBytesSent: (from) =>
      server.requests
        .slice(from)
        .filter((request) => request.path === blobPath(blob.digest))
        .reduce((sum, request) => sum + request.sent, 0),
  };
}

async function sizeOf(path: string): Promise<number> {
  return stat(path).then(
    (info) => info.size,
    () => 0,
  );
}

function progressEvents(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((line) => line.includes('"event":"update.progress"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

t.test('kill -9 in the middle of a download: the next run downloads only the rest and installs the layer', async (t) => {
  const s = await setup(t);
  const verified = 5 * s.blob.chunkSize;
  s.server.switches.stallAfter = verified + 1000;
  const first = startApplier(s.args);
  let exited = false;
  void first.done.then(() => (exited = true));
  // the applier writes each chunk to staging once it is verified: wait for the five the server sent in full
  while ((await sizeOf(s.staged)) < verified && !exited) await sleep(20);
  t.notOk(exited, 'the first run was still downloading');
  process.kill(first.pid, 'SIGKILL');
  t.equal((await first.done).code, -1, 'the first run was killed');
  t.ok((await readFile(s.staged)).equals(s.blobBytes.subarray(0, verified)), 'staging holds the five verified chunks, nothing more');

  s.server.switches.stallAfter = undefined;
  const before = s.server.requests.length;
  const second = await runApplier(s.args);
  t.equal(second.code, 0, second.stderr);
  const blobRequests = s.server.requests.slice(before).filter((request) => request.path === blobPath(s.blob.digest));
  t.same(blobRequests.map((request) => request.range), [`bytes=${verified}-`], 'one request, for the bytes after the staged chunks');
  t.equal(s.blobBytesSent(before), s.blob.size - verified, 'the second run downloaded only the remainder');
  t.match(progressEvents(second.stderr).at(-1), { phase: 'commit', bytes: s.blob.size, resumed: verified }, 'its progress counts the staged bytes as resumed');
  t.same(await checkStore(s.store, s.known), { current: 1, previous: null, problems: [] }, 'the layer is installed, byte for byte, and staging is gone');
});

t.test('staged bytes are checked again: a damaged chunk and what follows it are downloaded again', async (t) => {
  const s = await setup(t);
  const damaged = Buffer.from(s.blobBytes.subarray(0, 6 * s.blob.chunkSize));
  damaged[2 * s.blob.chunkSize + 77] ^= 0x01;
  await mkdir(join(s.store, 'staging', 'downloads'), { recursive: true, mode: 0o700 });
  await writeFile(s.staged, damaged, { mode: 0o600 });
  const halfExtracted = join(s.store, 'staging', s.known.layers.keys().next().value as string);
  await mkdir(halfExtracted);

  const result = await runApplier(s.args);
  t.equal(result.code, 0, result.stderr);
  t.same(
    s.server.requests.filter((request) => request.path === blobPath(s.blob.digest)).map((request) => request.range),
    [`bytes=${2 * s.blob.chunkSize}-`],
    'the download resumed at the damaged chunk',
  );
  t.equal(s.blobBytesSent(0), s.blob.size - 2 * s.blob.chunkSize);
  t.same(await checkStore(s.store, s.known), { current: 1, previous: null, problems: [] }, 'the layer is right: the damaged byte was never used');
});

t.test('a download stopped by the network (here its deadline) keeps its verified chunks; other failures and other releases do not', async (t) => {
  const s = await setup(t);
  const verified = 3 * s.blob.chunkSize;
  s.server.switches.stallAfter = verified + 1000;
  await mkdir(join(s.store, 'staging', 'downloads'), { recursive: true, mode: 0o700 });
  await writeFile(join(s.store, 'staging', 'downloads', 'f'.repeat(64)), randomBytes(1000), { mode: 0o600 });
  const failed = await runApplier([...s.args, '--deadline', '2']);
  t.not(failed.code, 0, 'the update fails at its deadline');
  t.match(failed.stderr, /E_NETWORK: .*deadline/);
  t.same(await readdir(join(s.store, 'staging')), ['downloads'], 'staging keeps the downloads only');
  t.same(await readdir(join(s.store, 'staging', 'downloads')), [digestHex(s.blob.digest)], 'the staged download of another release was removed');
  t.ok((await readFile(s.staged)).equals(s.blobBytes.subarray(0, verified)), 'with the verified chunks');

  s.server.switches.stallAfter = undefined;
  s.server.switches.flipByteAt = 4 * s.blob.chunkSize + 5;
  const tampered = await runApplier(s.args);
  t.match(tampered.stderr, /E_DIGEST_MISMATCH/, 'a chunk that does not match its signed hash is final');
  t.notOk((await readdir(s.store)).includes('staging'), 'and staging goes with its downloads');

  s.server.switches.flipByteAt = undefined;
  const before = s.server.requests.length;
  t.equal((await runApplier(s.args)).code, 0);
  t.equal(s.blobBytesSent(before), s.blob.size, 'the next run starts that download again');
  t.same(await checkStore(s.store, s.known), { current: 1, previous: null, problems: [] });
});
