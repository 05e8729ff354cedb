import fc from 'fast-check';
import t from 'tap';
import { matchShape, matchingBudget, MIN_MAX_MEMORY, parseByteSize, RESERVED_BYTES } from '../../../cli/src/lib/delta/match-memory.js';
import { pairWindows } from '../../../cli/src/lib/delta/window-pairing.js';
import { bytesOf } from '../../helpers/delta.js';

const MiB = 1024 ** 2;

t.test('byte sizes: plain numbers and K, M, G, T suffixes in powers of 1024', async (t) => {
  t.equal(parseByteSize('2G'), 2 * 1024 ** 3);
  t.equal(parseByteSize('512M'), 512 * MiB);
  t.equal(parseByteSize('1.5g'), 1.5 * 1024 ** 3);
  t.equal(parseByteSize('64KiB'), 64 * 1024);
  t.equal(parseByteSize('1073741824'), 1024 ** 3);
  for (const bad of ['', 'two gigs', '-1G', '1Q', '1e9']) t.throws(() => parseByteSize(bad), { code: 'E_USAGE' }, bad);
  t.throws(() => matchingBudget(MIN_MAX_MEMORY - 1), { code: 'E_USAGE' });
  t.equal(matchingBudget(2 * 1024 ** 3), 2 * 1024 ** 3 - RESERVED_BYTES);
});

t.test('every shape fits its budget; files that do not fit whole are windowed', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 34 }), fc.integer({ min: 1, max: 2 ** 34 }), fc.integer({ min: 80 * MiB, max: 2 ** 36 }), (oldBytes, newBytes, budget) => {
      const shape = matchShape(oldBytes, newBytes, budget);
      if (shape.memory > budget) throw new Error(`${JSON.stringify(shape)} exceeds ${budget}`);
      if (shape.kind === 'whole' && oldBytes + newBytes > budget) throw new Error('both inputs cannot be in memory');
    }),
  );
  t.equal(matchShape(120 * MiB, 120 * MiB, 1600 * MiB).kind, 'whole', 'a 120 MiB executable is matched whole in the default budget');
  t.match(matchShape(600 * MiB, 600 * MiB, 576 * MiB), { kind: 'windowed' });
  t.throws(() => matchShape(600 * MiB, 600 * MiB, 8 * MiB), { code: 'E_USAGE' });
});

t.test('the memory of a small file\'s match grows with the file, not with the largest index', async (t) => {
  const small = matchShape(100 * 1024, 100 * 1024, 1600 * MiB);
  t.match(small, { kind: 'whole', stride: 1, choose: true });
  t.ok(small.memory < 4 * MiB, `${small.memory} bytes for two 100 KiB files`);
  const large = matchShape(30 * MiB, 30 * MiB, 1600 * MiB);
  t.ok(large.memory > 30 * small.memory, 'a 30 MiB file needs proportionally more');
});

t.test('each part of the new input is paired with the old window that holds its content', async (t) => {
  const g = fc.sample(fc.gen(), { seed: 3, numRuns: 1 })[0]!;
  const blockBytes = 64 * 1024;
  const blocks = Array.from({ length: 64 }, () => bytesOf(g, blockBytes));
  const old = Buffer.concat(blocks);
  // the new input: the second half of the old one first, then the first half
  const next = Buffer.concat([...blocks.slice(32), ...blocks.slice(0, 32)]);
  const read = (bytes: Buffer) => (offset: number, length: number) => bytes.subarray(offset, offset + length);
  const partBytes = 8 * blockBytes;
  const pairs = pairWindows(read(old), old.length, read(next), next.length, partBytes, 2 * partBytes);
  t.equal(pairs.length, 8);
  for (const pair of pairs) {
    const source = (pair.newStart + 32 * blockBytes) % old.length;
    t.ok(pair.oldStart <= source && source + pair.newLength <= pair.oldStart + pair.oldLength, `part at ${pair.newStart}: window ${pair.oldStart}+${pair.oldLength} holds its source at ${source}`);
  }
});
