import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout } from 'node:timers/promises';
import t from 'tap';
import { readCapped } from '../../../shared/capped-read.js';
import { digestHex, sha256Digest } from '../../../shared/digest.js';
import { PART_SIZE } from '../../../cli/src/lib/artifact-store/s3-upload.js';
import { S3Store } from '../../../cli/src/lib/artifact-store/s3-store.js';
import { startCuttingProxy } from '../../helpers/cutting-proxy.js';
import { listKeys, s3rverClient, startS3rver, S3RVER_CREDENTIALS, S3RVER_REGION, type S3rverInstance } from '../../helpers/s3rver.js';

const small = Buffer.from('layer bytes '.repeat(1000));
const smallDigest = sha256Digest(small);
// Above one part, so it goes up as a multipart upload.
const large = randomBytes(2 * PART_SIZE + 12345);
const largeDigest = sha256Digest(large);

function storeAt(endpoint: string, prefix = 'fleet/prod'): S3Store {
  return new S3Store({ bucket: 'releases', prefix }, { endpointUrl: endpoint, region: S3RVER_REGION, credentials: S3RVER_CREDENTIALS });
}

function pieces(bytes: Buffer, size = 100_000): Readable {
  return Readable.from((function* () {
    for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
  })());
}

async function objectBytes(server: S3rverInstance, key: string): Promise<Buffer> {
  const response = await s3rverClient(server).send(new GetObjectCommand({ Bucket: 'releases', Key: key }));
  return readCapped(response.Body as Readable, 1 << 30, key);
}

let server: S3rverInstance;
t.before(async () => {
  server = await startS3rver(t);
});

t.test('stores a blob under <prefix>/blobs/sha256/<hex> and reads it back', async (t) => {
  const store = storeAt(server.endpoint, 'one');
  t.equal(store.location, 's3://releases/one');
  t.equal(await store.hasBlob(smallDigest), false);
  t.equal(await store.putBlob(smallDigest, small.length, pieces(small, 7000)), true);
  t.equal(await store.hasBlob(smallDigest), true);
  const key = `one/blobs/sha256/${digestHex(smallDigest)}`;
  t.same(await listKeys(server), [key]);
  t.same(await objectBytes(server, key), small);
  t.same(await readCapped(await store.getBlob(smallDigest), small.length, 'blob'), small);
  const head = await s3rverClient(server).send(new HeadObjectCommand({ Bucket: 'releases', Key: key }));
  t.equal(head.CacheControl, 'public, max-age=31536000, immutable', 'blobs may be cached forever');
});

t.test('a store at the bucket root uses the layout without a prefix', async (t) => {
  const root = await startS3rver(t);
  const store = new S3Store({ bucket: 'releases', prefix: '' }, { endpointUrl: root.endpoint, region: S3RVER_REGION, credentials: S3RVER_CREDENTIALS });
  t.equal(store.location, 's3://releases');
  await store.putBlob(smallDigest, small.length, pieces(small));
  await store.writeDocument({ kind: 'release', channel: 'stable' }, Buffer.from('{}'));
  t.same(await listKeys(root), [`blobs/sha256/${digestHex(smallDigest)}`, 'channels/stable/release.json']);
});

t.test('a blob larger than a part goes up in parts and comes back byte for byte', async (t) => {
  const proxy = await startCuttingProxy(t, server.endpoint, Infinity);
  const store = storeAt(proxy.endpoint, 'multipart');
  t.equal(await store.putBlob(largeDigest, large.length, pieces(large, 65536)), true);
  t.ok(proxy.requests.some((line) => /^POST \S+\?uploads/.test(line)), 'multipart upload started');
  t.equal(proxy.requests.filter((line) => /^PUT \S+partNumber=/.test(line)).length, 3, 'three parts');
  t.same(await objectBytes(server, `multipart/blobs/sha256/${digestHex(largeDigest)}`), large);
  t.equal(sha256Digest(await readCapped(await store.getBlob(largeDigest), large.length, 'blob')), largeDigest);
});

t.test('never overwrites an existing blob and does not read the source again', async (t) => {
  const proxy = await startCuttingProxy(t, server.endpoint, Infinity);
  const store = storeAt(proxy.endpoint, 'twice');
  await store.putBlob(smallDigest, small.length, pieces(small));
  const putsBefore = proxy.requests.filter((line) => line.startsWith('PUT')).length;
  let read = false;
  const source = (async function* () {
    read = true;
    yield Buffer.from('other');
  })();
  t.equal(await store.putBlob(smallDigest, small.length, source), false);
  t.equal(read, false, 'source untouched');
  t.equal(proxy.requests.filter((line) => line.startsWith('PUT')).length, putsBefore, 'no PUT, only a HEAD');
  t.same(await objectBytes(server, `twice/blobs/sha256/${digestHex(smallDigest)}`), small);
});

t.test('concurrent uploads all land, each blob once', async (t) => {
  const store = storeAt(server.endpoint, 'concurrent');
  const blobs = [small, small, randomBytes(1000), large, randomBytes(PART_SIZE + 1)];
  await Promise.all(blobs.map((bytes) => store.putBlob(sha256Digest(bytes), bytes.length, pieces(bytes, 65536))));
  const keys = [...new Set(blobs.map((bytes) => `concurrent/blobs/sha256/${digestHex(sha256Digest(bytes))}`))].sort();
  t.same((await listKeys(server)).filter((key) => key.startsWith('concurrent/')), keys);
  for (const bytes of blobs) t.equal(sha256Digest(await readCapped(await store.getBlob(sha256Digest(bytes)), bytes.length, 'blob')), sha256Digest(bytes));
});

t.test('a digest or size mismatch leaves no object behind', async (t) => {
  const store = storeAt(server.endpoint, 'mismatch');
  const wrong = Buffer.from(small);
  wrong[10] ^= 1;
  await t.rejects(store.putBlob(smallDigest, small.length, pieces(wrong)), { code: 'E_DIGEST_MISMATCH' });
  await t.rejects(store.putBlob(smallDigest, small.length, pieces(Buffer.concat([small, Buffer.from('x')]))), { code: 'E_SIZE_MISMATCH' });
  await t.rejects(store.putBlob(smallDigest, small.length, pieces(small.subarray(1))), { code: 'E_SIZE_MISMATCH' });
  t.equal(await store.hasBlob(smallDigest), false);
  t.same((await listKeys(server)).filter((key) => key.startsWith('mismatch/')), []);
});

t.test('a multipart upload whose last byte is wrong is never completed, and is aborted', async (t) => {
  const proxy = await startCuttingProxy(t, server.endpoint, Infinity);
  const store = storeAt(proxy.endpoint, 'mismatch-large');
  const wrong = Buffer.from(large);
  wrong[wrong.length - 1] ^= 1;
  // s3rver does not implement AbortMultipartUpload (405): the error says so.
  await t.rejects(store.putBlob(largeDigest, large.length, pieces(wrong, 65536)), {
    code: 'E_DIGEST_MISMATCH',
    message: /^blob sha256:[0-9a-f]{64} has digest .*; aborting its multipart upload failed too \(405 MethodNotAllowed\)/,
  });
  t.ok(proxy.requests.some((line) => /^PUT \S+partNumber=/.test(line)), 'parts were sent');
  t.notOk(proxy.requests.some((line) => /^POST \S+\?uploadId=/.test(line)), 'never completed');
  t.ok(proxy.requests.some((line) => /^DELETE \S+\?uploadId=/.test(line)), 'abort requested');
  t.same((await listKeys(server)).filter((key) => key.startsWith('mismatch-large/')), []);
});

t.test('a source that fails midway leaves no object behind', async (t) => {
  const proxy = await startCuttingProxy(t, server.endpoint, Infinity);
  const store = storeAt(proxy.endpoint, 'failing');
  const sentPart = () => proxy.requests.some((line) => /^PUT \S+partNumber=1/.test(line));
  const source = (async function* () {
    yield* pieces(large.subarray(0, PART_SIZE + 100), 65536);
    while (!sentPart()) await setTimeout(10);
    throw new Error('connection reset');
  })();
  await t.rejects(store.putBlob(largeDigest, large.length, source), { message: /^connection reset; aborting its multipart upload failed too/ });
  t.ok(sentPart(), 'the first part went up');
  t.ok(proxy.requests.some((line) => /^DELETE \S+\?uploadId=/.test(line)), 'abort requested');
  t.same((await listKeys(server)).filter((key) => key.startsWith('failing/')), []);
});

t.test('getBlob of a missing blob is E_NOT_FOUND', async (t) => {
  await t.rejects(storeAt(server.endpoint).getBlob(smallDigest), { code: 'E_NOT_FOUND', message: `blob ${smallDigest} is not in the store s3://releases/fleet/prod` });
});

t.test('channel pointers: absent, written, replaced', async (t) => {
  const store = storeAt(server.endpoint, 'pointers');
  t.equal(await store.readDocument({ kind: 'release', channel: 'stable' }), undefined);
  await store.writeDocument({ kind: 'release', channel: 'stable' }, Buffer.from('{"v":1}'));
  t.equal(store.documentLocation({ kind: 'release', channel: 'stable' }), 's3://releases/pointers/channels/stable/release.json');
  t.equal((await store.readDocument({ kind: 'release', channel: 'stable' }))?.toString(), '{"v":1}');
  await store.writeDocument({ kind: 'release', channel: 'stable' }, Buffer.from('{"v":2}'));
  t.equal((await objectBytes(server, 'pointers/channels/stable/release.json')).toString(), '{"v":2}');
  const head = await s3rverClient(server).send(new HeadObjectCommand({ Bucket: 'releases', Key: 'pointers/channels/stable/release.json' }));
  t.equal(head.CacheControl, 'no-cache', 'devices always fetch the current release');
  t.same((await listKeys(server)).filter((key) => key.startsWith('pointers/')), ['pointers/channels/stable/release.json']);
});

t.test('channel names that could leave the prefix are refused', async (t) => {
  const store = storeAt(server.endpoint, 'names');
  for (const channel of ['../x', '', 'a/b', '.hidden', 'UPPER']) {
    for (const kind of ['release', 'timestamp', 'history'] as const) {
      await t.rejects(store.writeDocument({ kind, channel }, Buffer.from('{}')), { code: 'E_USAGE' }, `${kind} of ${channel}`);
      await t.rejects(store.readDocument({ kind, channel }), { code: 'E_USAGE' }, `${kind} of ${channel}`);
    }
  }
  t.same((await listKeys(server)).filter((key) => key.startsWith('names/')), []);
});

t.test('an oversized pointer is refused', async (t) => {
  await s3rverClient(server).send(new PutObjectCommand({ Bucket: 'releases', Key: 'big/channels/big/release.json', Body: Buffer.alloc(4 * 1024 * 1024 + 1) }));
  await t.rejects(storeAt(server.endpoint, 'big').readDocument({ kind: 'release', channel: 'big' }), { code: 'E_TOO_LARGE' });
});
