import type { CopyOp, DeltaOp, LiteralOp } from '../../../../shared/delta/format.js';

/** Literals are merged up to this size; a longer one passes as it is. */
const MERGED_LITERAL_BYTES = 1024 * 1024;

/**
 * Merges neighbouring operations that the format can say in one: copies of adjacent ranges of
 * the same basis (a run of unchanged tar entries becomes one copy) and small literals.
 */
export async function* coalesceOps(ops: AsyncIterable<DeltaOp>): AsyncGenerator<DeltaOp> {
  let copy: CopyOp | undefined;
  let literal: Uint8Array[] = [];
  let literalBytes = 0;
  const flushLiteral = (): LiteralOp | undefined => {
    if (literalBytes === 0) return undefined;
    const bytes = literal.length === 1 ? literal[0]! : Buffer.concat(literal, literalBytes);
    literal = [];
    literalBytes = 0;
    return { type: 'literal', bytes };
  };
  const flushCopy = (): CopyOp | undefined => {
    const pending = copy;
    copy = undefined;
    return pending;
  };

  for await (const op of ops) {
    if (op.type === 'copy' && copy && copy.basis === op.basis && copy.offset + copy.length === op.offset) {
      copy = { ...copy, length: copy.length + op.length };
      continue;
    }
    if (op.type === 'literal' && literalBytes + op.bytes.byteLength <= MERGED_LITERAL_BYTES) {
      const pending = flushCopy();
      if (pending) yield pending;
      literal.push(op.bytes);
      literalBytes += op.bytes.byteLength;
      continue;
    }
    const pending = flushCopy() ?? flushLiteral();
    if (pending) yield pending;
    if (op.type === 'copy') copy = op;
    else if (op.type === 'literal') {
      literal.push(op.bytes);
      literalBytes = op.bytes.byteLength;
    } else yield op;
  }
  const last = flushCopy() ?? flushLiteral();
  if (last) yield last;
}
