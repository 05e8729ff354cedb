import t from 'tap';
import { approximateMatch } from '../../../cli/src/lib/delta/approximate-match.js';
import { chooseEncoding, preferredEncoding, TEXT_COPIES_ALLOWANCE } from '../../../cli/src/lib/delta/content-choice.js';

t.test('the smallest estimate wins, except that text keeps its copies up to the allowance', async (t) => {
  const slightlyLarger = { patch: 300, matches: 300 * TEXT_COPIES_ALLOWANCE - 1, literal: 5000 };
  t.equal(preferredEncoding(slightlyLarger, true), 'matches', 'text: copies a little larger than the patch');
  t.equal(preferredEncoding(slightlyLarger, false), 'patch', 'binary: the smaller patch');
  t.equal(preferredEncoding({ patch: 300, matches: 300 * TEXT_COPIES_ALLOWANCE, literal: 5000 }, true), 'patch', 'text: copies beyond the allowance');
  t.equal(preferredEncoding({ patch: 300, matches: 200, literal: 5000 }, false), 'matches');
  t.equal(preferredEncoding({ patch: 300, matches: 250, literal: 250 }, true), 'literal', 'a literal no larger than the best wins');
});

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
