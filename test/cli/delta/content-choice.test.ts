import t from 'tap';
import { approximateMatch } from '../../../cli/src/lib/delta/approximate-match.js';
import { chooseEncoding } from '../../../cli/src/lib/delta/content-choice.js';

t.test('an edited text file is sent as copies, not as its patch, its pieces covering the new file', async (t) => {
  const lines = Array.from({ length: 400 }, (_, i) => `  line ${i}: ${'abcdefghij'.repeat(1 + (i % 5))}\n`);
  const old = Buffer.from(lines.join(''));
  const edited = lines.map((line, i) => (i % 50 === 7 ? `  changed ${i} and moved\n` : line));
  const next = Buffer.from([...edited.slice(200), ...edited.slice(0, 200)].join(''));
  const [steps] = approximateMatch(old, next);
  const choice = chooseEncoding(old, next, { type: 'patch', window: [{ basis: 0, offset: 0, length: old.length }], ...steps! }, undefined);
  t.equal(choice.kind, 'matches');
  if (choice.kind !== 'matches') return;
  const rebuilt = Buffer.concat(choice.pieces.map((piece) => (piece.kind === 'copy' ? old.subarray(piece.oldOffset, piece.oldOffset + piece.length) : next.subarray(piece.newOffset, piece.newOffset + piece.length))));
  t.ok(rebuilt.equals(next), 'copies and literals rebuild the new file');
});
