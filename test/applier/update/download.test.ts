import { createHash } from 'node:crypto';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { downloadVerified } from '../../../applier/update/fetch/blob-download.js';
import type { RetryPolicy } from '../../../applier/update/fetch/retry.js';
import { openSource, type HttpTimeouts, type Source } from '../../../applier/update/fetch/source.js';
import { ChunkHasher } from '../../../shared/chunks.js';
import { sha256Digest } from '../../../shared/digest.js';
import { MediaType } from '../../../shared/oci.js';
import type { BlobRef } from '../../../shared/release.js';
import { blobPath } from '../../../shared/store-layout.js';
import { startFaultServer, type FaultServer } from '../../helpers/fault-server.js';

const CHUNK = 64 * 1024;

function blobOf(bytes: Buffer): BlobRef {
  const hasher = new ChunkHasher(CHUNK);
  hasher.update(bytes);
  return { mediaType: MediaType.layerTar, digest: sha256Digest(bytes), size: bytes.length, ...hasher.finish() };
}

const content = Buffer.concat(Array.from({ length: 20 }, (_, i) => createHash('sha512').update(String(i)).digest())).toString('hex').repeat(200);
const BYTES = Buffer.from(content).subarray(0, 5 * CHUNK + 777);
const BLOB = blobOf(BYTES);

interface Setup {
  server: FaultServer;
  source: Source;
  retries: { attempt: number; error: string }[];
}

async function setup(t: Test, options: { retry?: Partial<RetryPolicy>; timeouts?: Partial<HttpTimeouts>; authorization?: string } = {}): Promise<Setup> {
  const server = await startFaultServer(t, { [blobPath(BLOB.digest)]: BYTES });
  const retries: Setup['retries'] = [];
  const source = openSource(server.url, {
    timeouts: { connectMs: 2000, responseMs: 2000, idleMs: 2000, ...options.timeouts },
    retry: { baseDelayMs: 5, maxDelayMs: 20, onRetry: ({ attempt, error }) => retries.push({ attempt, error: error.message }), ...options.retry },
    authorization: options.authorization,
  });
  return { server, source, retries };
}

/** Everything the download yields, even when it fails in the end. */
async function drain(source: Source, blob = BLOB): Promise<{ bytes: Buffer; error?: unknown }> {
  const parts: Buffer[] = [];
  try {
    for await (const chunk of downloadVerified(source, blob, 'test blob')) parts.push(Buffer.from(chunk));
    return { bytes: Buffer.concat(parts) };
  } catch (error) {
    return { bytes: Buffer.concat(parts), error };
  }
}

t.test('a connection dropped mid-body resumes with Range from the first chunk not yet verified', async (t) => {
  const s = await setup(t);
  s.server.switches.dropAfter = { bytes: 2 * CHUNK + 1000, times: 2 };
  const { bytes, error } = await drain(s.source);
  t.equal(error, undefined);
  t.ok(bytes.equals(BYTES), 'the blob arrives whole, nothing doubled');
  t.same(
    s.server.requests.map((request) => request.range),
    [undefined, `bytes=${2 * CHUNK}-`, `bytes=${4 * CHUNK}-`],
    'each retry asks for the bytes after the verified chunks',
  );
  t.equal(s.retries.length, 2);
  t.match(s.retries[0].error, /connection ended|ECONNRESET|aborted/);
});

t.test('a server that ignores Range makes the download start over, never append', async (t) => {
  const s = await setup(t);
  s.server.switches.dropAfter = { bytes: 3 * CHUNK + 5, times: 1 };
  s.server.switches.ignoreRange = true;
  const { bytes, error } = await drain(s.source);
  t.equal(error, undefined);
  t.ok(bytes.equals(BYTES), 'the resent beginning is skipped');
  t.same(s.server.requests.map((request) => request.range), [undefined, `bytes=${3 * CHUNK}-`]);
});

t.test('a body without a length that ends early is a dropped connection, resumed', async (t) => {
  const s = await setup(t);
  s.server.switches.noLength = true;
  s.server.switches.dropAfter = { bytes: CHUNK + 10, times: 1 };
  const { bytes, error } = await drain(s.source);
  t.equal(error, undefined);
  t.ok(bytes.equals(BYTES));
  t.same(s.server.requests.map((request) => request.range), [undefined, `bytes=${CHUNK}-`]);
});

t.test('5xx answers are retried with backoff, a bounded number of times', async (t) => {
  const s = await setup(t, { retry: { retries: 3 } });
  s.server.switches.failWith = { status: 503, times: 3 };
  t.ok((await drain(s.source)).bytes.equals(BYTES), 'three failures, then success');
  t.same(s.retries.map((retry) => retry.attempt), [1, 2, 3]);

  const failing = await setup(t, { retry: { retries: 2 } });
  failing.server.switches.failWith = { status: 500, times: 100 };
  const { error } = await drain(failing.source);
  t.match(error, { code: 'E_NETWORK', message: /HTTP 500/ });
  t.equal(failing.server.requests.length, 3, 'one try and two retries');
});

t.test('a 400 answer is final: the request will not work as sent, so it is not retried', async (t) => {
  const s = await setup(t, { retry: { retries: 3 } });
  s.server.switches.failWith = { status: 400, times: 100 };
  const { error } = await drain(s.source);
  t.match(error, { code: 'E_BAD_INPUT', message: /HTTP 400/ });
  t.equal(s.server.requests.length, 1, 'one try');
  t.same(s.retries, []);
});

t.test('a wrong Content-Range is refused and retried', async (t) => {
  const s = await setup(t);
  s.server.switches.dropAfter = { bytes: CHUNK + 1, times: 1 };
  s.server.switches.wrongContentRange = { times: 1 };
  const { bytes, error } = await drain(s.source);
  t.equal(error, undefined);
  t.ok(bytes.equals(BYTES));
  t.match(s.retries[1].error, /asked for the bytes from 65536 on, got Content-Range "bytes 65537-/);

  const always = await setup(t, { retry: { retries: 1 } });
  always.server.switches.dropAfter = { bytes: CHUNK + 1, times: 1 };
  always.server.switches.wrongContentRange = { times: 100 };
  const failed = await drain(always.source);
  t.match(failed.error, { code: 'E_NETWORK', message: /Content-Range/ });
  t.ok(failed.bytes.equals(BYTES.subarray(0, CHUNK)), 'only the verified first chunk came out');
});

t.test('a stalled body times out; a trickle is stopped by the deadline', async (t) => {
  const stalled = await setup(t, { timeouts: { idleMs: 150 }, retry: { retries: 0 } });
  stalled.server.switches.stallAfter = 1024;
  t.match((await drain(stalled.source)).error, { code: 'E_NETWORK', message: /no data within 150 ms/ });

  // the trickle needs 12 s for the blob and never pauses near the idle timeout: only the deadline can stop it
  const trickle = await setup(t, { timeouts: { idleMs: 60_000 }, retry: { deadline: Date.now() + 600 } });
  trickle.server.switches.trickle = { bytes: 512, everyMs: 20 };
  const { error, bytes } = await drain(trickle.source);
  t.match(error, { code: 'E_NETWORK', message: /did not finish by their deadline/ });
  t.ok(bytes.length < BYTES.length);
});

t.test('a flipped byte: no byte of its chunk comes out, and the download fails at once', async (t) => {
  const s = await setup(t);
  s.server.switches.flipByteAt = 3 * CHUNK + 100;
  const { bytes, error } = await drain(s.source);
  t.match(error, { code: 'E_DIGEST_MISMATCH', message: /chunk 3 does not match its signed hash/ });
  t.ok(bytes.equals(BYTES.subarray(0, 3 * CHUNK)), 'exactly the three chunks before it');
  t.equal(s.retries.length, 0, 'bytes that do not match what was signed are not retried');
});

t.test('every read is capped by the signed size', async (t) => {
  const s = await setup(t);
  const short = { ...BLOB, size: BLOB.size - 100 };
  t.match((await drain(s.source, short)).error, { code: 'E_TOO_LARGE' }, 'a declared length past the signed size');
  s.server.switches.noLength = true;
  const { error, bytes } = await drain(s.source, short);
  t.match(error, { code: 'E_TOO_LARGE' }, 'and a body without a length that runs past it');
  t.ok(bytes.length <= short.size);
  t.equal(s.retries.length, 0);
});

t.test('credentials go to the source origin only, never to another host a redirect names', async (t) => {
  const mirror = await startFaultServer(t, { [blobPath(BLOB.digest)]: BYTES });
  const s = await setup(t, { authorization: 'Bearer secret-token' });
  t.ok((await drain(s.source)).bytes.equals(BYTES));
  t.equal(s.server.requests[0].authorization, 'Bearer secret-token', 'sent to the source');

  s.server.switches.redirectTo = mirror.url.replace('127.0.0.1', 'localhost');
  t.ok((await drain(s.source)).bytes.equals(BYTES), 'followed to the other host');
  t.equal(mirror.requests.length, 1);
  t.equal(mirror.requests[0].authorization, undefined, 'without the credentials');

  const sameOrigin = await setup(t, { authorization: 'Bearer secret-token' });
  sameOrigin.server.switches.redirectTo = `${sameOrigin.server.url}blobs/`;
  await drain(sameOrigin.source);
  t.ok(sameOrigin.server.requests.length >= 2);
  t.equal(sameOrigin.server.requests[1].authorization, 'Bearer secret-token', 'a redirect within the origin keeps them');
  t.match((await drain(sameOrigin.source)).error, { code: 'E_NETWORK', message: /refused redirect/ }, 'a redirect loop ends');
});

t.test('a connection that never completes its handshake times out', async (t) => {
  const sockets = new Set<Socket>();
  const silent = createTcpServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const source = openSource(`https://127.0.0.1:${(silent.address() as AddressInfo).port}/`, {
    timeouts: { connectMs: 200 },
    retry: { retries: 0 },
  });
  t.match((await drain(source)).error, { code: 'E_NETWORK', message: /no connection within 200 ms/ });
});
