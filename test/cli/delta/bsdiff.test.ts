import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import bsdiff from 'bsdiff-node';
import fc from 'fast-check';
import t from 'tap';
import { BSDIFF_MAX_INPUT_BYTES, bsdiffFiles, transcodeBsdiff } from '../../../cli/src/lib/delta/bsdiff.js';
import type { PatchSteps } from '../../../cli/src/lib/delta/patch-builder.js';
import { decodeDelta } from '../../../shared/delta/decoder.js';
import type { BasisRange } from '../../../shared/delta/format.js';
import { encodeDelta } from '../../../shared/delta/writer.js';
import { applyInMemory, bytesOf, collect, fileBases, fuzzRuns, headerFor, int, memoryBases, pieces } from '../../helpers/delta.js';

/** Writes the steps as one PATCH over `window`, decodes it against `bases`, returns the output. */
async function applyThroughDelta(steps: PatchSteps, window: BasisRange[], bases: Buffer[], expected: Buffer): Promise<Buffer> {
  const ops = [{ type: 'patch' as const, window, ...steps }];
  const blob = await collect(encodeDelta(headerFor(expected, fileBases(bases)), ops));
  return collect(decodeDelta(pieces(blob, 4096), memoryBases(bases)));
}

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

t.test('bsdiff, transcode, write, decode gives the new file exactly', async (t) => {
  const dir = t.testdir();
  await fc.assert(
    fc.asyncProperty(fc.gen(), async (g) => {
      const old = bytesOf(g, int(g, 1, 20_000));
      const next = int(g, 0, 4) === 0 ? bytesOf(g, int(g, 0, 5000)) : edited(g, old);
      await writeFile(join(dir, 'old'), old);
      await writeFile(join(dir, 'new'), next);
      const steps = await bsdiffFiles(join(dir, 'old'), join(dir, 'new'), dir);
      if (next.length === 0) {
        if (steps.triples.length !== 0) throw new Error('an empty new file needs no triples');
        return;
      }
      const out = await applyThroughDelta(steps, [{ basis: 0, offset: 0, length: old.length }], [old], next);
      if (!out.equals(next)) throw new Error(`decoded ${out.length} bytes differ from the ${next.length}-byte new file`);
    }),
    { numRuns: fuzzRuns(200) },
  );
});

t.test('several basis files concatenated into one old input: seeks land in the right file', async (t) => {
  const dir = t.testdir();
  const a = randomBytes(6000);
  const b = randomBytes(9000);
  const next = Buffer.concat([b.subarray(100, 4000), randomBytes(50), a.subarray(2000, 5000), b.subarray(7000), a.subarray(0, 1000)]);
  await writeFile(join(dir, 'old'), Buffer.concat([a, b]));
  await writeFile(join(dir, 'new'), next);
  const steps = await bsdiffFiles(join(dir, 'old'), join(dir, 'new'), dir);
  const window = [{ basis: 0, offset: 0, length: a.length }, { basis: 1, offset: 0, length: b.length }];
  t.ok((await applyThroughDelta(steps, window, [a, b], next)).equals(next));
  const extra = steps.triples.reduce((sum, triple) => sum + triple.extra.length, 0);
  t.ok(extra < 200, `only the ${extra} new bytes are sent as extra bytes`);
});

t.test('the old file in the middle of a larger basis: a window range with an offset', async (t) => {
  const dir = t.testdir();
  const old = randomBytes(3000);
  const next = Buffer.concat([old.subarray(1000), Buffer.from('tail')]);
  await writeFile(join(dir, 'old'), old);
  await writeFile(join(dir, 'new'), next);
  const steps = await bsdiffFiles(join(dir, 'old'), join(dir, 'new'), dir);
  const basis = Buffer.concat([randomBytes(500), old, randomBytes(500)]);
  t.ok((await applyThroughDelta(steps, [{ basis: 0, offset: 500, length: old.length }], [basis], next)).equals(next));
});

function offtout(value: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeUInt32LE(Math.abs(value) % 2 ** 32, 0);
  bytes.writeUInt32LE(Math.floor(Math.abs(value) / 2 ** 32) + (value < 0 ? 0x80000000 : 0), 4);
  return bytes;
}

function bzip2(data: Buffer): Buffer {
  return execFileSync('bzip2', ['-c', '-9'], { input: data });
}

/** A BSDIFF40 patch built by hand, as bspatch reads it. */
function handMadePatch(triples: [number, number, number][], diff: Buffer, extra: Buffer, newSize: number): Buffer {
  const control = bzip2(Buffer.concat(triples.flatMap((triple) => triple.map(offtout))));
  const diffBlock = bzip2(diff);
  return Buffer.concat([Buffer.from('BSDIFF40'), offtout(control.length), offtout(diffBlock.length), offtout(newSize), control, diffBlock, bzip2(extra)]);
}

t.test('adds that reach outside the old file read zeros there, as bsdiff-node\'s bspatch does', async (t) => {
  const dir = t.testdir();
  const old = Buffer.from('0123456789');
  // add 6 at 0, extra 2, seek 1; add 6 at 7 (3 past the end), seek -16; add 5 at -3 (3 before the start)
  const diff = Buffer.from([1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3]);
  const patch = handMadePatch([[6, 2, 1], [6, 0, -16], [5, 0, 0]], diff, Buffer.from('XY'), 19);
  await writeFile(join(dir, 'old'), old);
  await writeFile(join(dir, 'patch'), patch);
  await bsdiff.patch(join(dir, 'old'), join(dir, 'expected'), join(dir, 'patch'));
  const expected = await readFile(join(dir, 'expected'));
  const steps = transcodeBsdiff(patch, old.length, expected.length);
  t.ok((await applyThroughDelta(steps, [{ basis: 0, offset: 0, length: old.length }], [old], expected)).equals(expected), 'same bytes as bspatch');
  t.ok(applyInMemory([old], [{ type: 'patch', window: [{ basis: 0, offset: 0, length: old.length }], ...steps }]).equals(expected));
});

t.test('broken patches and oversized inputs are refused with typed errors', async (t) => {
  const good = handMadePatch([[2, 1, 0]], Buffer.alloc(2), Buffer.from('z'), 3);
  t.throws(() => transcodeBsdiff(Buffer.from('BSDIFF39' + ' '.repeat(24)), 2, 3), { code: 'E_BAD_INPUT', message: /bad magic/ });
  t.throws(() => transcodeBsdiff(good, 2, 4), { code: 'E_BAD_INPUT', message: /new size 3 is not 4/ });
  t.throws(() => transcodeBsdiff(good.subarray(0, good.length - 5), 2, 3), { code: 'E_BAD_INPUT', message: /not valid bzip2/ });
  t.throws(() => transcodeBsdiff(handMadePatch([[2, 1, 0]], Buffer.alloc(2), Buffer.from('z'), 4), 2, 4), { code: 'E_BAD_INPUT', message: /write 3 of 4/ });
  t.throws(() => transcodeBsdiff(handMadePatch([[3, 1, 0]], Buffer.alloc(2), Buffer.from('z'), 4), 2, 4), { code: 'E_BAD_INPUT', message: /past the diff or extra block/ });
  t.throws(() => transcodeBsdiff(handMadePatch([[-1, 1, 0]], Buffer.alloc(2), Buffer.from('z'), 4), 2, 4), { code: 'E_BAD_INPUT', message: /outside the new file/ });

  const dir = t.testdir();
  await writeFile(join(dir, 'old'), '');
  await writeFile(join(dir, 'new'), '');
  await truncate(join(dir, 'old'), BSDIFF_MAX_INPUT_BYTES / 2);
  await truncate(join(dir, 'new'), BSDIFF_MAX_INPUT_BYTES / 2 + 1);
  await t.rejects(bsdiffFiles(join(dir, 'old'), join(dir, 'new'), dir), { code: 'E_TOO_LARGE' });
});
