import { randomBytes } from 'node:crypto';
import fc, { type GeneratorValue } from 'fast-check';
import t from 'tap';
import type { MatchPiece } from '../../../cli/src/lib/delta/lz-match.js';
import { lzMatch } from '../../../cli/src/lib/delta/lz-match.js';
import { bytesOf, fuzzRuns, int } from '../../helpers/delta.js';

function rebuild(old: Buffer, next: Buffer, pieces: MatchPiece[]): Buffer {
  return Buffer.concat(pieces.map((p) => (p.kind === 'copy' ? old.subarray(p.oldOffset, p.oldOffset + p.length) : next.subarray(p.newOffset, p.newOffset + p.length))));
}

/** An edited copy of `old`: pieces of it moved, dropped, repeated and changed. */
function edited(g: GeneratorValue, old: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let i = int(g, 0, 8); i > 0; i--) {
    const start = int(g, 0, old.length);
    const piece = Buffer.from(old.subarray(start, Math.min(old.length, start + int(g, 0, 5000))));
    for (let j = int(g, 0, 3); j > 0 && piece.length > 0; j--) piece[int(g, 0, piece.length - 1)] = int(g, 0, 255);
    parts.push(piece, bytesOf(g, int(g, 0, 40)));
  }
  return Buffer.concat(parts);
}

t.test('the pieces rebuild the new input exactly, in order and without gaps', async () => {
  await fc.assert(
    fc.property(fc.gen(), (g) => {
      const old = int(g, 0, 1) ? bytesOf(g, int(g, 0, 20_000)) : Buffer.from('abcabcab'.repeat(int(g, 0, 2000)));
      const next = int(g, 0, 1) ? edited(g, old) : bytesOf(g, int(g, 0, 3000));
      const pieces = lzMatch(old, next);
      let newOffset = 0;
      for (const piece of pieces) {
        if (piece.length < 1) throw new Error('empty piece');
        if (piece.kind === 'literal' && piece.newOffset !== newOffset) throw new Error('literal out of order');
        if (piece.kind === 'copy' && (piece.oldOffset < 0 || piece.oldOffset + piece.length > old.length)) throw new Error('copy outside the old input');
        newOffset += piece.length;
      }
      if (!rebuild(old, next, pieces).equals(next)) throw new Error('pieces do not rebuild the new input');
    }),
    { numRuns: fuzzRuns(300) },
  );
});

t.test('an edit inside copied text costs a short literal, the copies go on around it', async (t) => {
  const old = randomBytes(100_000);
  const next = Buffer.concat([old.subarray(0, 40_000), Buffer.from('edit'), old.subarray(40_010, 70_000), randomBytes(50), old.subarray(80_000)]);
  const pieces = lzMatch(old, next);
  t.ok(rebuild(old, next, pieces).equals(next));
  t.same(
    pieces.map((p) => p.kind),
    ['copy', 'literal', 'copy', 'literal', 'copy'],
  );
  const literal = pieces.filter((p) => p.kind === 'literal').reduce((sum, p) => sum + p.length, 0);
  t.ok(literal <= 54, `${literal} literal bytes`);
});

t.test('inputs shorter than a hash, or empty, are literal', async (t) => {
  t.same(lzMatch(Buffer.alloc(0), Buffer.from('hello')), [{ kind: 'literal', newOffset: 0, length: 5 }]);
  t.same(lzMatch(Buffer.from('hello'), Buffer.from('hello')), [{ kind: 'literal', newOffset: 0, length: 5 }]);
  t.same(lzMatch(Buffer.from('hello world, hello'), Buffer.alloc(0)), []);
});
