/** Hand-made tar bytes for hostile and malformed archives no well-behaved writer produces. */

export interface RawHeader {
  name: string;
  /** Type flag character: '0' file, '1' hard link, '2' symlink, '3' char device, '5' directory, ... */
  type?: string;
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  /** Raw bytes for the 12-byte size field, to write sizes no honest writer would. */
  sizeField?: Buffer;
  /** Store a wrong checksum. */
  badChecksum?: boolean;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

export function rawHeader(header: RawHeader): Buffer {
  const block = Buffer.alloc(512);
  block.write(header.name, 0, 100, 'utf8');
  block.write(octal(header.mode ?? 0o644, 8), 100, 'latin1');
  block.write(octal(header.uid ?? 0, 8), 108, 'latin1');
  block.write(octal(header.gid ?? 0, 8), 116, 'latin1');
  if (header.sizeField) header.sizeField.copy(block, 124, 0, 12);
  else block.write(octal(header.size ?? 0, 12), 124, 'latin1');
  block.write(octal(header.mtime ?? 1_700_000_000, 12), 136, 'latin1');
  block.write(header.type ?? '0', 156, 'latin1');
  block.write(header.linkname ?? '', 157, 100, 'utf8');
  block.write('ustar\x0000', 257, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(octal(header.badChecksum ? sum + 1 : sum, 7), 148, 'latin1');
  return block;
}

function padded(content: Buffer): Buffer {
  return Buffer.concat([content, Buffer.alloc((512 - (content.length % 512)) % 512)]);
}

/** A header plus its content and padding. */
export function rawEntry(header: RawHeader, content: Buffer | string = Buffer.alloc(0)): Buffer {
  const bytes = Buffer.from(content);
  return Buffer.concat([rawHeader({ size: bytes.length, ...header }), padded(bytes)]);
}

/** A PAX extended header ('x', or 'g' for global) carrying `records`. */
export function paxEntry(records: Record<string, string>, type: 'x' | 'g' = 'x'): Buffer {
  const lines = Object.entries(records).map(([key, value]) => {
    const body = ` ${key}=${value}\n`;
    let length = Buffer.byteLength(body) + 1;
    while (String(length).length + Buffer.byteLength(body) !== length) length++;
    return `${length}${body}`;
  });
  return rawEntry({ name: 'PaxHeader', type }, lines.join(''));
}

export const END_OF_ARCHIVE = Buffer.alloc(1024);

export function rawTar(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, END_OF_ARCHIVE]);
}
