import { randomBytes } from 'node:crypto';
import t from 'tap';
import { ChunkHasher, verifiedChunks, type ChunkList } from '../../shared/chunks.js';

function listOf(data: Buffer, chunkSize: number): ChunkList {
  const hasher = new ChunkHasher(chunkSize);
  // uneven pieces: chunk boundaries must not depend on how the bytes arrive
  for (let i = 0; i < data.length; i += 777) hasher.update(data.subarray(i, i + 777));
  return hasher.finish();
}

async function* pieces(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of source) out.push(chunk);
  return out;
}

t.test('yields the blob in verified chunks whatever the arrival pattern', async (t) => {
  const data = randomBytes(10_000);
  const list = listOf(data, 4096);
  t.equal(list.chunks.length, 3);
  for (const piece of [1, 100, 4096, 5000, 20_000]) {
    const chunks = await collect(verifiedChunks(pieces(data, piece), list, data.length, 'blob'));
    t.same(chunks.map((c) => c.length), [4096, 4096, 1808]);
    t.ok(Buffer.concat(chunks).equals(data));
  }
});

t.test('a flipped byte stops before that chunk is released', async (t) => {
  const data = randomBytes(10_000);
  const list = listOf(data, 4096);
  const bad = Buffer.from(data);
  bad[5000] ^= 1;
  const released: Buffer[] = [];
  await t.rejects(async () => {
    for await (const chunk of verifiedChunks(pieces(bad, 333), list, data.length, 'blob')) released.push(chunk);
  }, { name: 'PrtiqlError', code: 'E_DIGEST_MISMATCH' });
  t.equal(released.length, 1, 'only the first, intact chunk was released');
  t.ok(released[0].equals(data.subarray(0, 4096)));
});

t.test('short and long blobs are size mismatches', async (t) => {
  const data = randomBytes(9000);
  const list = listOf(data, 4096);
  await t.rejects(collect(verifiedChunks(pieces(data.subarray(0, 8999), 1000), list, 9000, 'blob')), { code: 'E_SIZE_MISMATCH' });
  await t.rejects(collect(verifiedChunks(pieces(Buffer.concat([data, Buffer.from('x')]), 1000), list, 9000, 'blob')), {
    code: 'E_SIZE_MISMATCH',
  });
});

t.test('a resumed download starts at a chunk boundary', async (t) => {
  const data = randomBytes(10_000);
  const list = listOf(data, 4096);
  const rest = await collect(verifiedChunks(pieces(data.subarray(4096), 999), list, data.length, 'blob', 1));
  t.ok(Buffer.concat(rest).equals(data.subarray(4096)));
});

t.test('a chunk list that does not cover the size is refused', async (t) => {
  await t.rejects(collect(verifiedChunks(pieces(Buffer.alloc(10), 5), { chunkSize: 4, chunks: ['00'] }, 10, 'blob')), {
    code: 'E_BAD_INPUT',
  });
});

t.test('an empty blob has no chunks', async (t) => {
  const list = listOf(Buffer.alloc(0), 4096);
  t.same(list.chunks, []);
  t.same(await collect(verifiedChunks(pieces(Buffer.alloc(0), 1), list, 0, 'blob')), []);
});
