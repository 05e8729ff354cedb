import { PrtiqlError } from '../errors.js';

export const TAR_BLOCK_SIZE = 512;

export type TarEntryKind = 'file' | 'hardlink' | 'symlink' | 'directory' | 'char' | 'block' | 'fifo';

/** A tar entry's header with PAX records and GNU long names already applied. */
export interface TarHeader {
  /** The path as written in the archive (not normalised: may carry './' or a trailing '/'). */
  path: string;
  type: TarEntryKind;
  /** Permission bits including setuid, setgid and sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch; PAX records may add a fraction. */
  mtime: number;
  /** Content bytes that follow the header (only regular files have any). */
  size: number;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** Effective PAX records (global ones overridden by the entry's own). */
  pax: Record<string, string>;
}

/**
 * The archive in order: each entry's header with the raw skeleton bytes before its content
 * (previous padding, extension headers and their data, its own header block), then its
 * content in chunks, and finally the tail (last padding, end-of-archive blocks, the rest).
 * Concatenating every segment and data chunk gives back the archive byte for byte.
 */
export type SplitPart =
  | { kind: 'entry'; header: TarHeader; segment: Buffer }
  | { kind: 'data'; bytes: Buffer }
  | { kind: 'tail'; segment: Buffer };

export interface SplitLimits {
  /** Largest skeleton segment before one entry's content, extension records included. */
  maxSegmentBytes: number;
  /** Largest tail: end-of-archive blocks plus whatever follows them. */
  maxTailBytes: number;
}

export const DEFAULT_SPLIT_LIMITS: SplitLimits = {
  maxSegmentBytes: 1024 * 1024,
  maxTailBytes: 1024 * 1024,
};

const TYPE_FLAGS: Record<string, TarEntryKind> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'directory',
  '6': 'fifo',
};

const EMPTY = Buffer.alloc(0);
const utf8 = new TextDecoder('utf-8', { fatal: true });

function malformed(message: string): never {
  throw new PrtiqlError('E_BAD_INPUT', `tar: ${message}`);
}

function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return malformed(`${what} is not valid UTF-8`);
  }
}

function cString(field: Buffer): Buffer {
  const end = field.indexOf(0);
  return end === -1 ? field : field.subarray(0, end);
}

/** An octal or base-256 number field; negative, non-octal and unsafe values are refused. */
export function parseNumericField(field: Buffer, what: string): number {
  if (field[0] & 0x80) {
    if (field[0] & 0x40) malformed(`${what} is negative`);
    let value = BigInt(field[0] & 0x3f);
    for (let i = 1; i < field.length; i++) value = (value << 8n) | BigInt(field[i]);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) malformed(`${what} is too large`);
    return Number(value);
  }
  const match = /^ *([0-7]*)[ \0]*$/.exec(field.toString('latin1'));
  if (!match) malformed(`${what} is not an octal number`);
  return match[1] === '' ? 0 : parseInt(match[1], 8);
}

function checksumMatches(block: Buffer): boolean {
  let stored: number;
  try {
    stored = parseNumericField(block.subarray(148, 156), 'checksum');
  } catch {
    return false;
  }
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < TAR_BLOCK_SIZE; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += byte;
    signed += byte >= 0x80 ? byte - 0x100 : byte;
  }
  return stored === unsigned || stored === signed;
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/** Parses "<len> <key>=<value>\n" records; every length must match exactly. */
export function parsePaxRecords(data: Buffer): Record<string, string> {
  const records: Record<string, string> = {};
  let position = 0;
  while (position < data.length) {
    const space = data.indexOf(0x20, position);
    const lengthText = space === -1 ? '' : data.toString('latin1', position, space);
    if (!/^[1-9][0-9]{0,19}$/.test(lengthText)) malformed('PAX record length is malformed');
    const end = position + Number(lengthText);
    if (end > data.length || data[end - 1] !== 0x0a) malformed('PAX record overruns its header');
    const record = decodeUtf8(data.subarray(space + 1, end - 1), 'PAX record');
    const equals = record.indexOf('=');
    if (equals <= 0) malformed('PAX record has no keyword');
    records[record.slice(0, equals)] = record.slice(equals + 1);
    position = end;
  }
  return records;
}

function paxInteger(value: string, what: string): number {
  if (!/^[0-9]{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) malformed(`PAX ${what} is not a valid number`);
  return Number(value);
}

function paxTime(value: string): number {
  if (!/^-?[0-9]{1,16}(\.[0-9]{1,9})?$/.test(value)) malformed('PAX mtime is not a valid time');
  return Number(value);
}

/** Pulls bytes from an async source on demand, holding only what the parser asked for. */
class ByteReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private ended = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.iterator.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    const chunk = next.value;
    if (chunk.byteLength > 0) {
      this.queue.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.queued += chunk.byteLength;
    }
    return true;
  }

  /** Exactly `length` bytes, or fewer only where the input ends. */
  async read(length: number): Promise<Buffer> {
    while (this.queued < length && (await this.pull()));
    const take = Math.min(length, this.queued);
    const parts: Buffer[] = [];
    for (let taken = 0; taken < take; ) {
      const part = this.shift(take - taken);
      parts.push(part);
      taken += part.length;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, take);
  }

  /** Between 1 and `length` bytes without copying; empty only at the end of the input. */
  async readSome(length: number): Promise<Buffer> {
    while (this.queued === 0) if (!(await this.pull())) return EMPTY;
    return this.shift(length);
  }

  private shift(length: number): Buffer {
    const head = this.queue[0];
    const part = head.length <= length ? (this.queue.shift() as Buffer) : head.subarray(0, length);
    if (part !== head) this.queue[0] = head.subarray(length);
    this.queued -= part.length;
    return part;
  }

  async close(): Promise<void> {
    if (!this.ended) await this.iterator.return?.();
  }
}

interface PendingExtensions {
  pax: Record<string, string>;
  longName?: string;
  longLink?: string;
  present: boolean;
}

/** Collects the skeleton bytes before one entry's content and enforces the segment cap. */
class Segment {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  add(bytes: Buffer): void {
    this.size += bytes.length;
    if (this.size > this.limit) {
      throw new PrtiqlError('E_UNSAFE_ENTRY', `tar: headers before one entry exceed the ${this.limit}-byte limit`);
    }
    this.parts.push(bytes);
  }

  take(): Buffer {
    const bytes = Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    return bytes;
  }
}

function headerOf(block: Buffer, pending: PendingExtensions, globals: Record<string, string>): TarHeader {
  const typeFlag = String.fromCharCode(block[156]);
  const type = TYPE_FLAGS[typeFlag];
  if (!type) {
    throw new PrtiqlError('E_UNSAFE_ENTRY', `tar: unsupported entry type ${JSON.stringify(typeFlag)}`);
  }
  const magic = block.toString('latin1', 257, 263);
  let path = decodeUtf8(cString(block.subarray(0, 100)), 'entry name');
  if (magic === 'ustar\0') {
    const prefix = decodeUtf8(cString(block.subarray(345, 500)), 'entry name prefix');
    if (prefix) path = `${prefix}/${path}`;
  }
  const header: TarHeader = {
    path: pending.longName ?? path,
    type,
    mode: parseNumericField(block.subarray(100, 108), 'mode') & 0o7777,
    uid: parseNumericField(block.subarray(108, 116), 'uid'),
    gid: parseNumericField(block.subarray(116, 124), 'gid'),
    size: parseNumericField(block.subarray(124, 136), 'size'),
    mtime: parseNumericField(block.subarray(136, 148), 'mtime'),
    linkname: pending.longLink ?? decodeUtf8(cString(block.subarray(157, 257)), 'link name'),
    uname: cString(block.subarray(265, 297)).toString('latin1'),
    gname: cString(block.subarray(297, 329)).toString('latin1'),
    devmajor: parseNumericField(block.subarray(329, 337), 'devmajor'),
    devminor: parseNumericField(block.subarray(337, 345), 'devminor'),
    pax: {},
  };
  const pax = Object.fromEntries(Object.entries({ ...globals, ...pending.pax }).filter(([, value]) => value !== ''));
  for (const [key, value] of Object.entries(pax)) {
    if (key.startsWith('GNU.sparse.')) throw new PrtiqlError('E_UNSAFE_ENTRY', 'tar: sparse files are not supported');
    if (key === 'path') header.path = value;
    else if (key === 'linkpath') header.linkname = value;
    else if (key === 'size') header.size = paxInteger(value, key);
    else if (key === 'uid') header.uid = paxInteger(value, key);
    else if (key === 'gid') header.gid = paxInteger(value, key);
    else if (key === 'mtime') header.mtime = paxTime(value);
    else if (key === 'uname') header.uname = value;
    else if (key === 'gname') header.gname = value;
  }
  header.pax = pax;
  if (header.type !== 'file' && header.size !== 0) {
    malformed(`${JSON.stringify(header.path)} is a ${header.type} with ${header.size} content bytes`);
  }
  return header;
}

function paddingOf(size: number): number {
  return (TAR_BLOCK_SIZE - (size % TAR_BLOCK_SIZE)) % TAR_BLOCK_SIZE;
}

/**
 * Streams a tar archive as header/content/tail parts, keeping every raw byte. Content is
 * passed through in the chunks it arrives in; only header blocks and extension records
 * (capped) are buffered. Checksums are verified; truncated archives are refused.
 */
export async function* splitTar(source: AsyncIterable<Uint8Array>, limits: SplitLimits = DEFAULT_SPLIT_LIMITS): AsyncGenerator<SplitPart> {
  const reader = new ByteReader(source);
  const segment = new Segment(limits.maxSegmentBytes);
  const globals: Record<string, string> = {};
  let pending: PendingExtensions = { pax: {}, present: false };
  const readBlock = async (what: string): Promise<Buffer> => {
    const block = await reader.read(TAR_BLOCK_SIZE);
    if (block.length < TAR_BLOCK_SIZE) malformed(`archive is truncated (${what})`);
    return block;
  };
  try {
    for (;;) {
      const block = await readBlock('expected a header or the end-of-archive marker');
      if (isZeroBlock(block)) {
        if (pending.present) malformed('extension header without an entry before the end of the archive');
        const second = await readBlock('expected the second end-of-archive block');
        if (!isZeroBlock(second)) malformed('a lone zero block inside the archive');
        yield { kind: 'tail', segment: await readTail(reader, [segment.take(), block, second], limits.maxTailBytes) };
        return;
      }
      if (!checksumMatches(block)) malformed('header checksum mismatch');
      segment.add(block);
      const typeFlag = String.fromCharCode(block[156]);
      if ('xgLK'.includes(typeFlag)) {
        const size = parseNumericField(block.subarray(124, 136), 'size');
        if (size > limits.maxSegmentBytes) {
          throw new PrtiqlError('E_UNSAFE_ENTRY', `tar: extension header of ${size} bytes exceeds the ${limits.maxSegmentBytes}-byte limit`);
        }
        const stored = await reader.read(size + paddingOf(size));
        if (stored.length < size + paddingOf(size)) malformed('archive is truncated inside an extension header');
        segment.add(stored);
        const data = stored.subarray(0, size);
        if (typeFlag === 'g') Object.assign(globals, parsePaxRecords(data));
        else {
          pending.present = true;
          if (typeFlag === 'x') Object.assign(pending.pax, parsePaxRecords(data));
          else if (typeFlag === 'L') pending.longName = decodeUtf8(cString(data), 'GNU long name');
          else pending.longLink = decodeUtf8(cString(data), 'GNU long link name');
        }
        continue;
      }
      const header = headerOf(block, pending, globals);
      pending = { pax: {}, present: false };
      yield { kind: 'entry', header, segment: segment.take() };
      let remaining = header.size;
      while (remaining > 0) {
        const bytes = await reader.readSome(remaining);
        if (bytes.length === 0) malformed(`archive is truncated inside ${JSON.stringify(header.path)}`);
        remaining -= bytes.length;
        yield { kind: 'data', bytes };
      }
      const padding = await reader.read(paddingOf(header.size));
      if (padding.length < paddingOf(header.size)) malformed(`archive is truncated after ${JSON.stringify(header.path)}`);
      if (padding.length > 0) segment.add(padding);
    }
  } finally {
    await reader.close();
  }
}

async function readTail(reader: ByteReader, start: Buffer[], limit: number): Promise<Buffer> {
  const parts = start.filter((part) => part.length > 0);
  let size = parts.reduce((sum, part) => sum + part.length, 0);
  for (;;) {
    const bytes = await reader.readSome(64 * 1024);
    if (bytes.length === 0) return Buffer.concat(parts, size);
    size += bytes.length;
    if (size > limit) throw new PrtiqlError('E_UNSAFE_ENTRY', `tar: data after the end of the archive exceeds the ${limit}-byte limit`);
    parts.push(bytes);
  }
}
