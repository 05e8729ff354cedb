import { TAR_BLOCK_SIZE } from './split.js';

const SIZE_DIGITS_AT = 124;
const SIZE_DIGITS = 11;
const CHECKSUM_AT = 148;
const CHECKSUM_DIGITS = 6;
const CHECKSUM_FIELD_BYTES = 8;
/** The largest size the 11 octal digits of a size field hold (8 GiB - 1). */
export const MAX_OCTAL_SIZE = 8 ** SIZE_DIGITS - 1;

/**
 * A copy of the tar header block `header` with `size` written into its size field and its
 * checksum recomputed: the two fields a changed file's header differs in. Only the digits are
 * written (11 and 6, zero-padded octal); the bytes that end each field are kept as they are,
 * since writers differ there (GNU tar and Go end the size with a NUL, tar-stream with a space).
 */
export function withTarSize(header: Uint8Array, size: number): Buffer {
  if (header.length !== TAR_BLOCK_SIZE) throw new RangeError(`a tar header is ${TAR_BLOCK_SIZE} bytes, not ${header.length}`);
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_OCTAL_SIZE) throw new RangeError(`size ${size} does not fit an octal size field`);
  const out = Buffer.from(header);
  out.write(size.toString(8).padStart(SIZE_DIGITS, '0'), SIZE_DIGITS_AT, 'latin1');
  let checksum = 0;
  for (let i = 0; i < TAR_BLOCK_SIZE; i++) checksum += i >= CHECKSUM_AT && i < CHECKSUM_AT + CHECKSUM_FIELD_BYTES ? 0x20 : out[i]!;
  out.write(checksum.toString(8).padStart(CHECKSUM_DIGITS, '0'), CHECKSUM_AT, 'latin1');
  return out;
}
