import { isDigest, type Digest } from '../digest.js';
import type { ByteSource } from './byte-source.js';
import { PrtiqlError } from '../errors.js';
import {
  BASIS_KIND_CODE,
  MAX_BASES,
  MAX_LAYERS,
  RECORD_IDENTITY_VERSION,
  deltaMalformed,
  type BasisEntry,
  type BasisKind,
  type DeltaHeader,
  type DeltaIdentity,
} from './format.js';
import { checkInflatedBasis, readInflatedBasis } from './deflate-member.js';
import { encodeVarint } from './varint.js';

const DIGEST_BYTES = 32;
const KIND_OF_CODE = new Map<number, BasisKind>(Object.entries(BASIS_KIND_CODE).map(([kind, code]) => [code, kind as BasisKind]));

/** The layer table: distinct layers in order of first use by the basis table. */
export function basisLayers(header: DeltaHeader): Digest[] {
  return [...new Set(header.bases.map((basis) => basis.layer))];
}

/** Everything about a header that its in-memory form can get wrong; `fail` raises the caller's error. */
export function checkHeader(header: DeltaHeader, fail: (message: string) => never): void {
  const isSize = (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 0;
  if (!isDigest(header.target.diffID)) fail('the target diffID is not a sha256 digest');
  if (!isSize(header.target.size)) fail(`target size ${header.target.size} is not a size`);
  if (header.bases.length > MAX_BASES) fail(`${header.bases.length} bases exceed the ${MAX_BASES} limit`);
  header.bases.forEach((basis, index) => {
    if (!(basis.kind in BASIS_KIND_CODE)) fail(`basis ${index} has unknown kind ${JSON.stringify(basis.kind)}`);
    if (!isDigest(basis.layer)) fail(`basis ${index} layer is not a sha256 digest`);
    if (!isSize(basis.size)) fail(`basis ${index} size ${basis.size} is not a size`);
    if (basis.kind === 'inflated') checkInflatedBasis(basis, index, fail);
  });
  const layers = basisLayers(header).length;
  if (layers > MAX_LAYERS) fail(`${layers} basis layers exceed the ${MAX_LAYERS} limit`);
}

/** The header's bytes as they open the decompressed op stream of a delta of `version` (docs/delta-format.md, "Header"). */
export function encodeHeader(header: DeltaHeader, version: number): Buffer {
  const layers = basisLayers(header);
  const layerIndex = new Map(layers.map((layer, index) => [layer, index]));
  const parts: Buffer[] = [];
  const numbers = (...values: number[]) => {
    const out: number[] = [];
    for (const value of values) encodeVarint(value, out);
    parts.push(Buffer.from(out));
  };
  const digest = (value: Digest) => parts.push(Buffer.from(value.slice('sha256:'.length), 'hex'));

  const identityInHeader = version < RECORD_IDENTITY_VERSION;
  if (identityInHeader) digest(header.target.diffID);
  numbers(header.target.size, layers.length);
  if (identityInHeader) layers.forEach(digest);
  numbers(header.bases.length);
  for (const basis of header.bases) {
    parts.push(Buffer.of(BASIS_KIND_CODE[basis.kind]));
    numbers(layerIndex.get(basis.layer)!);
    if (basis.kind === 'inflated') numbers(basis.offset, basis.compressedSize, basis.size);
    else numbers(basis.size);
  }
  return Buffer.concat(parts);
}

async function readDigest(input: ByteSource): Promise<Digest> {
  return `sha256:${(await input.bytes(DIGEST_BYTES)).toString('hex')}`;
}

async function readCount(input: ByteSource, limit: number, what: string): Promise<number> {
  const count = await input.varint();
  if (count > limit) deltaMalformed(`${count} ${what} exceed the ${limit} limit`);
  return count;
}

/**
 * Reads the header of a delta of `version` from the start of the decompressed op stream;
 * malformed input raises E_DELTA_MALFORMED. From version 3 the header names neither the target
 * nor the layers: `identity` (the release's delta record) does, and it is required. Before
 * version 3 the header names them, and they must agree with `identity` when it is given.
 */
export async function parseHeader(input: ByteSource, version: number, identity?: DeltaIdentity): Promise<DeltaHeader> {
  const identityInHeader = version < RECORD_IDENTITY_VERSION;
  if (!identityInHeader && identity === undefined) {
    throw new PrtiqlError('E_INTERNAL', `a version-${version} delta is decoded with the target and basis layers of its release's delta record`);
  }
  const diffID = identityInHeader ? await readDigest(input) : identity!.target;
  const size = await input.varint();
  const layerCount = await readCount(input, MAX_LAYERS, 'layers');
  if (!identityInHeader && layerCount !== identity!.basisLayers.length) {
    deltaMalformed(`the delta reads ${layerCount} layers, its record lists ${identity!.basisLayers.length}`);
  }
  const layers: Digest[] = [];
  for (let i = 0; i < layerCount; i++) {
    const layer = identityInHeader ? await readDigest(input) : identity!.basisLayers[i]!;
    if (layers.includes(layer)) deltaMalformed(`layer ${layer} is listed twice`);
    layers.push(layer);
  }
  if (identityInHeader && identity) {
    if (diffID !== identity.target) deltaMalformed(`the delta rebuilds ${diffID}, its record says ${identity.target}`);
    if (layers.join() !== identity.basisLayers.join()) deltaMalformed(`the delta reads layers ${layers.join(', ')}, its record lists ${identity.basisLayers.join(', ')}`);
  }
  const basisCount = await readCount(input, MAX_BASES, 'bases');
  const bases: BasisEntry[] = [];
  for (let index = 0; index < basisCount; index++) {
    bases.push(await readBasis(input, layers, index));
  }
  const header: DeltaHeader = { target: { diffID, size }, bases };
  checkHeader(header, deltaMalformed);
  return header;
}

async function readBasis(input: ByteSource, layers: Digest[], index: number): Promise<BasisEntry> {
  const code = await input.byte();
  const kind = KIND_OF_CODE.get(code) ?? deltaMalformed(`basis ${index} has unknown kind 0x${code.toString(16)}`);
  const layerIndex = await input.varint();
  const layer = layers[layerIndex] ?? deltaMalformed(`basis ${index} names layer ${layerIndex} of ${layers.length}`);
  if (kind === 'inflated') return readInflatedBasis(input, layer);
  return { kind, layer, size: await input.varint() };
}
