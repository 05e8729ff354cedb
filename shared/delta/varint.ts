import { MAX_VARINT_VALUE, MAX_VARINT_BYTES, deltaMalformed } from './format.js';

/** Unsigned LEB128: 7 bits a byte, least significant group first, high bit set on all but the last. */
export function encodeVarint(value: number, out: number[]): void {
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

/** Zigzag maps 0, -1, 1, -2, ... to 0, 1, 2, 3, ... so that small seeks in either direction stay short. */
export function zigzag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

export function unzigzag(value: number): number {
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}

export interface DecodedVarint {
  value: number;
  next: number;
}

/**
 * Decodes the canonical varint at `position`, reading no further than `end`. Running out of
 * bytes means the delta is truncated: callers make sure `end` is either 8 bytes on or the end
 * of the input. Overlong encodings (a final 0x00 after the first byte) and values above
 * MAX_VARINT_VALUE are malformed, so every value has exactly one encoding.
 */
export function decodeVarint(bytes: Uint8Array, position: number, end: number): DecodedVarint {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    if (position + i >= end) deltaMalformed('truncated inside a number');
    const byte = bytes[position + i]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) {
      if (byte === 0 && i > 0) deltaMalformed('a number has an overlong encoding');
      if (value > MAX_VARINT_VALUE) deltaMalformed(`a number exceeds the ${MAX_VARINT_VALUE} limit`);
      return { value, next: position + i + 1 };
    }
    scale *= 0x80;
  }
  return deltaMalformed(`a number is longer than ${MAX_VARINT_BYTES} bytes`);
}
