import fc from 'fast-check';
import t from 'tap';
import { approximateMatch } from '../../../cli/src/lib/delta/approximate-match.js';
import type { PatchSteps } from '../../../cli/src/lib/delta/patch-builder.js';
import { decodeDelta } from '../../../shared/delta/decoder.js';
import { encodeDelta } from '../../../shared/delta/writer.js';
import { applyInMemory, bytesOf, collect, tarBases, fuzzRuns, headerFor, identityOf, int, memoryBases, pieces } from '../../helpers/delta.js';

/** A new file made from an old one the way releases change files: edits, insertions, deletions, moves. */
function edited(g: fc.GeneratorValue, old: Buffer): Buffer {
  let result = Buffer.from(old);
  for (let i = int(g, 0, 6); i > 0; i--) {
    const at = int(g, 0, result.length);
    const span = int(g, 0, 200);
    switch (int(g, 0, 3)) {
      case 0:
        bytesOf(g, span).copy(result, at);
        break;
      case 1:
        result = Buffer.concat([result.subarray(0, at), bytesOf(g, span), result.subarray(at)]);
        break;
      case 2:
        result = Buffer.concat([result.subarray(0, at), result.subarray(at + span)]);
        break;
      default:
        result = Buffer.concat([result.subarray(at), result.subarray(0, at)]);
    }
  }
  return result;
}

/** Old bytes with few distinct values: long repeats, many equal seeds. */
function repetitive(g: fc.GeneratorValue, length: number): Buffer {
  const alphabet = bytesOf(g, int(g, 1, 4));
  return Buffer.from(Array.from({ length }, () => alphabet[int(g, 0, alphabet.length - 1)]!));
}

const patchOps = (parts: PatchSteps[], oldLength: number) => parts.map((steps) => ({ type: 'patch' as const, window: [{ basis: 0, offset: 0, length: oldLength }], ...steps }));

const extraBytes = (parts: PatchSteps[]) => parts.reduce((sum, steps) => sum + steps.triples.reduce((s, triple) => s + triple.extra.length, 0), 0);

t.test('the patch parts rebuild the new input exactly, whatever the inputs, stride and part size', async () => {
  await fc.assert(
    fc.asyncProperty(fc.gen(), async (g) => {
      const old = int(g, 0, 3) === 0 ? repetitive(g, int(g, 1, 5000)) : bytesOf(g, int(g, 1, 20_000));
      const next = int(g, 0, 4) === 0 ? bytesOf(g, int(g, 1, 5000)) : edited(g, old);
      if (next.length === 0) return;
      const stride = [1, 2, 3, 8][int(g, 0, 3)]!;
      const partBytes = int(g, 0, 1) === 0 ? Infinity : int(g, 1, 4000);
      const parts = [...approximateMatch(old, next, stride, partBytes)];
      const ops = patchOps(parts, old.length);
      if (!applyInMemory([old], ops).equals(next)) throw new Error('the parts do not rebuild the new input');
      // and the writer and decoder accept every part
      const header = headerFor(next, tarBases([old]));
      const blob = await collect(encodeDelta(header, ops));
      if (!(await collect(decodeDelta(pieces(blob, 4096), memoryBases([old]), identityOf(header)))).equals(next)) throw new Error('decoded bytes differ');
    }),
    { numRuns: fuzzRuns(150) },
  );
});

t.test('parts of a patch are the whole patch cut at part boundaries: the same bytes, the same diffs', async (t) => {
  const old = Buffer.concat(Array.from({ length: 400 }, (_, i) => Buffer.from(`record ${i} of the old file with some padding ${'.'.repeat(i % 37)}\n`)));
  const next = Buffer.from(old);
  for (let i = 100; i < next.length; i += 997) next[i] = 0x21;
  const whole = [...approximateMatch(old, next)];
  const parts = [...approximateMatch(old, next, 1, 4096)];
  t.equal(whole.length, 1);
  t.ok(parts.length > 3, `${parts.length} parts`);
  t.same(Buffer.concat(parts.flatMap((steps) => steps.triples.map((triple) => triple.diff))), Buffer.concat(whole[0]!.triples.map((triple) => triple.diff)));
  t.equal(extraBytes(parts), extraBytes(whole));
});

t.test('scattered changes are diff bytes over one alignment, not extra bytes', async (t) => {
  const old = bytesOf(fc.sample(fc.gen(), { seed: 1, numRuns: 1 })[0]!, 200_000);
  const next = Buffer.from(old);
  // an executable's relocated addresses: a byte in every 40 changes
  for (let i = 7; i < next.length; i += 40) next[i] = (next[i]! + 1) & 0xff;
  const [steps] = [...approximateMatch(old, next)];
  t.equal(extraBytes([steps!]), 0, 'no extra bytes');
  t.equal(steps!.triples.length, 1, 'one alignment from start to end');
});

t.test('moved blocks are found wherever they went; only inserted bytes are extra', async (t) => {
  const g = fc.sample(fc.gen(), { seed: 2, numRuns: 1 })[0]!;
  const blocks = Array.from({ length: 40 }, () => bytesOf(g, 5000));
  const old = Buffer.concat(blocks);
  const shuffled = [...blocks].reverse();
  const inserted = bytesOf(g, 300);
  const next = Buffer.concat([...shuffled.slice(0, 20), inserted, ...shuffled.slice(20)]);
  for (const stride of [1, 4]) {
    const parts = [...approximateMatch(old, next, stride)];
    t.ok(applyInMemory([old], patchOps(parts, old.length)).equals(next), `stride ${stride}: exact`);
    t.ok(extraBytes(parts) <= inserted.length + 64, `stride ${stride}: ${extraBytes(parts)} extra bytes for ${inserted.length} inserted`);
  }
});
