import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import { blockMatch, blockSizeFor, type MatchPiece } from '../../../cli/src/lib/delta/block-match.js';
import { bytesOf, fuzzRuns, int } from '../../helpers/delta.js';

const reader = (bytes: Buffer) => async (offset: number, length: number) => bytes.subarray(offset, offset + length);

async function rebuild(old: Buffer, next: Buffer): Promise<{ out: Buffer; pieces: MatchPiece[] }> {
  const pieces: MatchPiece[] = [];
  for await (const piece of blockMatch(reader(old), old.length, reader(next), next.length)) pieces.push(piece);
  const out = Buffer.concat(pieces.map((p) => (p.kind === 'copy' ? old.subarray(p.oldOffset, p.oldOffset + p.length) : next.subarray(p.newOffset, p.newOffset + p.length))));
  return { out, pieces };
}

t.test('the pieces rebuild the new input exactly', async () => {
  await fc.assert(
    fc.asyncProperty(fc.gen(), async (g) => {
      const old = bytesOf(g, int(g, 0, 40_000));
      const cut = int(g, 0, old.length);
      const next = int(g, 0, 1) ? Buffer.concat([old.subarray(cut), bytesOf(g, int(g, 0, 3000)), old.subarray(0, cut)]) : bytesOf(g, int(g, 0, 10_000));
      const { out } = await rebuild(old, next);
      if (!out.equals(next)) throw new Error('pieces do not rebuild the new input');
    }),
    { numRuns: fuzzRuns(200) },
  );
});

t.test('moved and shifted blocks are found', async (t) => {
  const old = randomBytes(200_000);
  const next = Buffer.concat([randomBytes(7), old.subarray(100_000), randomBytes(3), old.subarray(0, 100_000)]);
  const { out, pieces } = await rebuild(old, next);
  t.ok(out.equals(next));
  const literal = pieces.filter((p) => p.kind === 'literal').reduce((sum, p) => sum + p.length, 0);
  t.ok(literal < 3 * blockSizeFor(old.length) + 10, `${literal} literal bytes of ${next.length}`);
});

t.test('the block size grows so that at most 2^18 blocks are indexed', async (t) => {
  t.equal(blockSizeFor(1000), 2048);
  t.equal(blockSizeFor(2 ** 29), 2048);
  t.equal(blockSizeFor(2 ** 30), 4096);
  t.ok(2 ** 34 / blockSizeFor(2 ** 34) <= 2 ** 18);
});
