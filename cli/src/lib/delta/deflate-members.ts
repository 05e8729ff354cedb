import { brotliCompressSync, constants, inflateRawSync } from 'node:zlib';
import { Deflater } from '../../../../shared/deflate/deflater.js';
import { CANDIDATE_PARAMS, type DeflateParams } from '../../../../shared/deflate/params.js';
import { MAX_MEMBER_BYTES } from '../../../../shared/delta/deflate-member.js';
import type { DeltaOp, InflatedBasis, MemberOp, PatchOp } from '../../../../shared/delta/format.js';
import { inflateMember } from '../../../../shared/delta/inflated-basis.js';
import { PatchWindow } from '../../../../shared/delta/window.js';
import { approximateMatch } from './approximate-match.js';
import { chooseEncoding } from './content-choice.js';
import type { EmitContext } from './emit-ops.js';
import type { IndexedEntry, IndexedLayer, TarRange } from './layer-index.js';
import type { FileCounts, HeaderPlan, PlanItem, PlanSources } from './plan-items.js';

const GZIP_MAGIC = [0x1f, 0x8b, 0x08];
const GZIP_TRAILER_BYTES = 8;
const GZIP_FIXED_HEADER_BYTES = 10;
const FLAG = { text: 1, headerCrc: 2, extra: 4, name: 8, comment: 16 };
/** Compared as they come while looking for parameters, so that a wrong guess stops early. */
const PROBE_PIECE_BYTES = 64 * 1024;
/** Base candidates looked at for an old version of a member. */
const OLD_CANDIDATES = 3;
const ESTIMATE_PARAMS = { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_LGWIN]: 22 };

/** A gzip file of one member: its raw deflate stream and what it inflates to. */
interface GzipMember {
  headerLength: number;
  rawLength: number;
  inflated: Buffer;
}

/** Where an old member's deflate stream lies in its base layer's tar. */
interface OldMember {
  layer: number;
  rawOffset: number;
  rawLength: number;
  inflatedSize: number;
}

/** A changed gzip file whose deflate stream the device can rebuild from its inflated bytes. */
export interface MemberItem {
  kind: 'member';
  header: HeaderPlan;
  next: TarRange;
  params: DeflateParams;
  headerLength: number;
  rawLength: number;
  old?: OldMember;
}

/** Where the gzip header ends; undefined if the bytes are not a gzip header this code reads. */
function gzipHeaderLength(bytes: Buffer): number | undefined {
  if (bytes.length < GZIP_FIXED_HEADER_BYTES + GZIP_TRAILER_BYTES || GZIP_MAGIC.some((byte, i) => bytes[i] !== byte)) return undefined;
  const flags = bytes[3]!;
  if (flags & 0xe0) return undefined;
  let at = GZIP_FIXED_HEADER_BYTES;
  if (flags & FLAG.extra) at += 2 + bytes.readUInt16LE(at);
  for (const flag of [FLAG.name, FLAG.comment]) {
    if (!(flags & flag)) continue;
    const end = bytes.indexOf(0, at);
    if (end < 0) return undefined;
    at = end + 1;
  }
  if (flags & FLAG.headerCrc) at += 2;
  return at + GZIP_TRAILER_BYTES <= bytes.length ? at : undefined;
}

/** The single member of a gzip file within the size limits, or undefined. */
export function parseGzipMember(bytes: Buffer): GzipMember | undefined {
  const headerLength = gzipHeaderLength(bytes);
  if (headerLength === undefined) return undefined;
  const declaredSize = bytes.readUInt32LE(bytes.length - 4);
  const rawLength = bytes.length - GZIP_TRAILER_BYTES - headerLength;
  if (declaredSize > MAX_MEMBER_BYTES || rawLength > MAX_MEMBER_BYTES) return undefined;
  try {
    // nothing but the trailer may follow the stream: inflateMember checks the stream ends there
    return { headerLength, rawLength, inflated: inflateMember(bytes.subarray(headerLength, headerLength + rawLength), declaredSize, 'gzip member') };
  } catch {
    return undefined;
  }
}

/** Whether deflating `inflated` with `params` gives exactly `raw`; stops at the first difference. */
function reproduces(params: DeflateParams, inflated: Buffer, raw: Buffer): boolean {
  const deflater = new Deflater(params);
  let matched = 0;
  const same = (parts: Uint8Array[]) =>
    parts.every((part) => {
      const equal = matched + part.length <= raw.length && raw.subarray(matched, matched + part.length).equals(part);
      matched += part.length;
      return equal;
    });
  for (let at = 0; at < inflated.length; at += PROBE_PIECE_BYTES) {
    if (!same(deflater.write(inflated.subarray(at, at + PROBE_PIECE_BYTES)))) return false;
  }
  return same(deflater.end()) && matched === raw.length;
}

/** The parameters that rebuild `raw` from `inflated`, if any of the known encoders does. */
export function findDeflateParams(inflated: Buffer, raw: Buffer): DeflateParams | undefined {
  return CANDIDATE_PARAMS.find((params) => reproduces(params, inflated, raw));
}

async function readMember(sources: PlanSources, layer: IndexedLayer, entry: IndexedEntry): Promise<GzipMember | undefined> {
  const { content } = entry;
  if (content.length < GZIP_FIXED_HEADER_BYTES + GZIP_TRAILER_BYTES || content.length > MAX_MEMBER_BYTES) return undefined;
  const magic = await sources.files.read(layer.tarPath, content.offset, GZIP_MAGIC.length);
  if (GZIP_MAGIC.some((byte, i) => magic[i] !== byte)) return undefined;
  return parseGzipMember(await sources.files.read(layer.tarPath, content.offset, content.length));
}

/**
 * A changed gzip file that a known encoder reproduces becomes a member item, with the first
 * candidate base file that is a gzip member as its old version (if any). Identical files and
 * anything else are left to the other methods (undefined).
 */
export async function planMember(sources: PlanSources, target: IndexedLayer, entry: IndexedEntry, header: HeaderPlan): Promise<MemberItem | undefined> {
  if (entry.type !== 'file' || sources.index.identical(entry.sha256!)) return undefined;
  const member = await readMember(sources, target, entry);
  if (!member) return undefined;
  const raw = await sources.files.read(target.tarPath, entry.content.offset + member.headerLength, member.rawLength);
  const params = findDeflateParams(member.inflated, raw);
  if (!params) return undefined;
  let old: OldMember | undefined;
  for (const candidate of sources.index.candidates(entry.path, entry.content.length, OLD_CANDIDATES)) {
    const oldMember = await readMember(sources, sources.layers[candidate.layer]!, candidate.entry);
    if (!oldMember) continue;
    const rawOffset = candidate.entry.content.offset + oldMember.headerLength;
    old = { layer: candidate.layer, rawOffset, rawLength: oldMember.rawLength, inflatedSize: oldMember.inflated.length };
    break;
  }
  return { kind: 'member', header, next: entry.content, params, headerLength: member.headerLength, rawLength: member.rawLength, old };
}

/** Base layers a member item reads. */
export function memberLayers(item: MemberItem): number[] {
  return [...(item.header.aligned ? [item.header.aligned.layer] : []), ...(item.old ? [item.old.layer] : [])];
}

const basisKey = (old: OldMember) => `${old.layer}:${old.rawOffset}`;

/** The inflated bases the member items read, to follow the delta's first `firstIndex` bases. */
export function inflatedBases(items: readonly PlanItem[], layers: readonly IndexedLayer[], firstIndex: number): { bases: InflatedBasis[]; indexOf: Map<string, number> } {
  const bases: InflatedBasis[] = [];
  const indexOf = new Map<string, number>();
  for (const item of items) {
    const old = item.kind === 'member' ? item.old : undefined;
    if (!old || indexOf.has(basisKey(old))) continue;
    indexOf.set(basisKey(old), firstIndex + bases.length);
    bases.push({ kind: 'inflated', layer: layers[old.layer]!.diffID, offset: old.rawOffset, compressedSize: old.rawLength, size: old.inflatedSize });
  }
  return { bases, indexOf };
}

function brotliEstimate(bytes: Uint8Array): number {
  return brotliCompressSync(bytes, { params: ESTIMATE_PARAMS }).length;
}

/**
 * The new member's inflated bytes against the old member's: the smallest of a patch, copies
 * or the bytes themselves (a DEFLATE operation holds no XPATCH). Members are small (at most
 * MAX_MEMBER_BYTES inflated), so they are matched in place at the densest stride.
 */
async function innerOps(sources: PlanSources, item: MemberItem, inflated: Buffer, basis: number | undefined): Promise<MemberOp[]> {
  const { old } = item;
  if (inflated.length === 0) return [];
  if (!old || basis === undefined || old.inflatedSize === 0) return [{ type: 'literal', bytes: inflated }];
  const oldRaw = await sources.files.read(sources.layers[old.layer]!.tarPath, old.rawOffset, old.rawLength);
  const oldInflated = inflateMember(oldRaw, old.inflatedSize, 'old gzip member');
  const window = new PatchWindow([{ basis, offset: 0, length: oldInflated.length }]);
  const [steps] = approximateMatch(oldInflated, inflated);
  const patch: PatchOp = { type: 'patch', window: window.slices(0, oldInflated.length), ...steps! };
  const choice = chooseEncoding(oldInflated, inflated, patch, undefined);
  if (choice.kind === 'literal') return [{ type: 'literal', bytes: inflated }];
  if (choice.kind === 'matches') {
    return choice.pieces.flatMap((piece): MemberOp[] =>
      piece.kind === 'literal'
        ? [{ type: 'literal', bytes: inflated.subarray(piece.newOffset, piece.newOffset + piece.length) }]
        : window.slices(piece.oldOffset, piece.length).map((range) => ({ type: 'copy', ...range })),
    );
  }
  return [patch];
}

/**
 * The content of a member item: its gzip header, a DEFLATE operation, its trailer. When the
 * member's inflated bytes would only travel literally and cost more than its compressed bytes
 * (by a quick brotli estimate), the content is sent literally instead.
 */
export async function memberContentOps(context: EmitContext, item: MemberItem, counts: FileCounts): Promise<DeltaOp[]> {
  const content = await context.files.read(context.target.tarPath, item.next.offset, item.next.length);
  const raw = content.subarray(item.headerLength, item.headerLength + item.rawLength);
  const inflated = inflateRawSync(raw);
  const ops = await innerOps(context, item, inflated, item.old && context.memberBasisOf.get(basisKey(item.old)));
  const onlyLiteral = ops.length === 1 && ops[0]!.type === 'literal';
  if (onlyLiteral && brotliEstimate(inflated) >= brotliEstimate(raw)) {
    counts.literal++;
    return [{ type: 'literal', bytes: content }];
  }
  counts.deflateMember++;
  return [
    { type: 'literal', bytes: content.subarray(0, item.headerLength) },
    { type: 'deflate', params: item.params, inflatedSize: inflated.length, compressedSize: item.rawLength, ops },
    { type: 'literal', bytes: content.subarray(item.headerLength + item.rawLength) },
  ];
}
