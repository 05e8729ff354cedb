/**
 * Deflate members (docs/delta-format.md, "Deflate members"): the DEFLATE operation, whose
 * nested operations produce a raw deflate stream's inflated bytes that the decoder deflates
 * again, and the `inflated` basis kind, which lets those operations read old members inflated.
 */
import { Deflater } from '../deflate/deflater.js';
import { FLAVOUR_CODE, unsupportedParams, type DeflateFlavour, type DeflateParams } from '../deflate/params.js';
import type { Digest } from '../digest.js';
import type { ByteSource } from './byte-source.js';
import { CHANNEL, DEFLATE_MEMBERS_VERSION, deltaMalformed, type DeflateOp, type DeltaHeader, type InflatedBasis } from './format.js';
import { OpRules } from './op-rules.js';
import type { OpSink } from './op-sink.js';
import type { OpSource } from './op-source.js';

/**
 * Largest inflated (and compressed) size of a member or an inflated basis. It bounds what a
 * device holds: an inflated basis is kept in memory while it is read.
 */
export const MAX_MEMBER_BYTES = 4 * 1024 * 1024;

const FLAVOUR_OF_CODE = new Map<number, DeflateFlavour>(Object.entries(FLAVOUR_CODE).map(([flavour, code]) => [code, flavour as DeflateFlavour]));

function memberSizeProblem(size: number, what: string): string | undefined {
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_MEMBER_BYTES) return `${what} ${size} is not 0 to ${MAX_MEMBER_BYTES}`;
  return undefined;
}

export function checkInflatedBasis(basis: InflatedBasis, index: number, fail: (message: string) => never): void {
  if (!Number.isSafeInteger(basis.offset) || basis.offset < 0) fail(`basis ${index} offset ${basis.offset} is not a position`);
  const problem = memberSizeProblem(basis.size, 'inflated size') ?? memberSizeProblem(basis.compressedSize, 'compressed size');
  if (problem !== undefined) fail(`basis ${index}: ${problem}`);
  if (basis.compressedSize < 1) fail(`basis ${index} has an empty deflate stream`);
}

/** The header of a delta of `version`, refused if that version has no inflated bases but the header names one. */
export function refuseMembersBefore(version: number, header: DeltaHeader): DeltaHeader {
  if (version < DEFLATE_MEMBERS_VERSION && header.bases.some((basis) => basis.kind === 'inflated')) deltaMalformed(`a version-${version} delta names an inflated basis`);
  return header;
}

export async function readInflatedBasis(input: ByteSource, layer: Digest): Promise<InflatedBasis> {
  const offset = await input.varint();
  const compressedSize = await input.varint();
  return { kind: 'inflated', layer, offset, compressedSize, size: await input.varint() };
}

/** The rules of a member's nested operations: their own output (the inflated bytes) and their own cursors. */
function memberRules(header: DeltaHeader, inflatedSize: number, fail: (message: string) => never): OpRules {
  return new OpRules({ target: { diffID: header.target.diffID, size: inflatedSize }, bases: header.bases }, fail);
}

function checkMember(op: Pick<DeflateOp, 'params' | 'inflatedSize' | 'compressedSize'>, fail: (message: string) => never): void {
  const problem = unsupportedParams(op.params) ?? memberSizeProblem(op.inflatedSize, 'a deflate member of inflated size') ?? memberSizeProblem(op.compressedSize, 'a deflate member of compressed size');
  if (problem !== undefined) fail(problem);
}

/**
 * Writes a DEFLATE operation's fields (after its opcode) and returns the rules its nested
 * operations, then END, must be written with.
 */
export function writeMemberHead(out: OpSink, rules: OpRules, header: DeltaHeader, op: DeflateOp, fail: (message: string) => never): OpRules {
  checkMember(op, fail);
  rules.deflateMember(op.compressedSize);
  out.byte(CHANNEL.control, FLAVOUR_CODE[op.params.flavour]);
  out.byte(CHANNEL.control, op.params.level);
  out.byte(CHANNEL.control, op.params.memLevel);
  out.varint(CHANNEL.lengths, op.inflatedSize);
  out.varint(CHANNEL.lengths, op.compressedSize);
  return memberRules(header, op.inflatedSize, fail);
}

/**
 * The deflater of the previous member, reset for the next one when their parameters are the
 * same (they nearly always are): a layer has hundreds of members, and a deflater's tables
 * (about 350 KiB) allocated for each piled up between collections.
 */
export class MemberDeflaters {
  private last: Deflater | undefined;

  for(params: DeflateParams): Deflater {
    const last = this.last;
    if (last && last.params.flavour === params.flavour && last.params.level === params.level && last.params.memLevel === params.memLevel) {
      last.reset();
      return last;
    }
    this.last = new Deflater(params);
    return this.last;
  }
}

/**
 * Decodes a DEFLATE operation (after its opcode): `nested` yields what the member's
 * operations write (the member's inflated size, under the rules it is given); that is deflated
 * and yielded as it comes.
 * A stream that comes out longer or shorter than declared is malformed.
 */
export async function* applyDeflateMember(
  input: OpSource,
  header: DeltaHeader,
  rules: OpRules,
  nested: (rules: OpRules, inflatedSize: number) => AsyncGenerator<Buffer>,
  deflaters: MemberDeflaters,
): AsyncGenerator<Buffer> {
  const flavourCode = await input.byte(CHANNEL.control);
  const flavour = FLAVOUR_OF_CODE.get(flavourCode) ?? deltaMalformed(`unknown deflate flavour 0x${flavourCode.toString(16)}`);
  const params: DeflateParams = { flavour, level: await input.byte(CHANNEL.control), memLevel: await input.byte(CHANNEL.control) };
  const member = { params, inflatedSize: await input.varint(CHANNEL.lengths), compressedSize: await input.varint(CHANNEL.lengths) };
  checkMember(member, deltaMalformed);
  rules.deflateMember(member.compressedSize);
  const deflater = deflaters.for(params);
  let produced = 0;
  const compressed = function* (parts: Uint8Array[]): Generator<Buffer> {
    for (const part of parts) {
      produced += part.length;
      if (produced > member.compressedSize) deltaMalformed(`a deflate member deflates to more than its declared ${member.compressedSize} bytes`);
      yield Buffer.from(part.buffer, part.byteOffset, part.byteLength);
    }
  };
  for await (const piece of nested(memberRules(header, member.inflatedSize, deltaMalformed), member.inflatedSize)) yield* compressed(deflater.write(piece));
  yield* compressed(deflater.end());
  if (produced !== member.compressedSize) deltaMalformed(`a deflate member deflates to ${produced} bytes, not its declared ${member.compressedSize}`);
}
