import { randomBytes } from 'node:crypto';
import t from 'tap';
import { compactWindow } from '../../../cli/src/lib/delta/patch-window.js';
import type { PatchOp } from '../../../shared/delta/format.js';
import { applyInMemory } from '../../helpers/delta.js';

t.test('ranges no add reads are dropped, adjacent ones merged, the output unchanged', async (t) => {
  const bases = [randomBytes(100), randomBytes(100)];
  const op: PatchOp = {
    type: 'patch',
    window: [
      { basis: 0, offset: 0, length: 10 },
      { basis: 0, offset: 10, length: 20 },
      { basis: 1, offset: 0, length: 50 },
      { basis: 0, offset: 60, length: 30 },
    ],
    start: 2,
    // reads window 2..12 (ranges 0 and 1), then 85..95 (range 3): range 2 is never read
    triples: [
      { diff: Buffer.alloc(10, 1), extra: Buffer.from('x'), seek: 73 },
      { diff: Buffer.alloc(5, 2), extra: Buffer.alloc(0), seek: -3 },
    ],
  };
  const compacted = compactWindow(op);
  t.same(compacted.window, [
    { basis: 0, offset: 0, length: 30 },
    { basis: 0, offset: 60, length: 30 },
  ]);
  t.ok(applyInMemory(bases, [compacted]).equals(applyInMemory(bases, [op])));
  t.equal(compacted.start, 2);
  t.equal(compacted.triples.at(-1)!.seek, -3, 'the final position is kept: it sets the cursor for the next op');
});

t.test('a window whose ranges are all read keeps its steps', async (t) => {
  const op: PatchOp = { type: 'patch', window: [{ basis: 0, offset: 5, length: 10 }], start: 0, triples: [{ diff: Buffer.alloc(10), extra: Buffer.alloc(0), seek: 0 }] };
  t.same(compactWindow(op), op);
});
