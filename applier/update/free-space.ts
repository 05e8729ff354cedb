import { statfs } from 'node:fs/promises';
import { PrtiqlError } from '../../shared/errors.js';
import type { ReleaseLayer } from '../../shared/release.js';

/** File system overhead allowed for on top of the signed tar sizes: blocks, inodes, directories. */
const RESERVE_BYTES = 4 * 1024 * 1024;
const RESERVE_FRACTION = 0.05;

/**
 * Free space needed to install `layers`: their signed tar sizes (content plus headers, which
 * bound the extracted files and the metadata), a reserve on top. A floor, not a promise: many
 * tiny files can need more, and a full disk during extraction still fails safely (E_DISK).
 */
export function spaceNeeded(layers: readonly ReleaseLayer[]): number {
  const tarBytes = layers.reduce((sum, layer) => sum + layer.size, 0);
  return tarBytes === 0 ? 0 : Math.ceil(tarBytes * (1 + RESERVE_FRACTION)) + RESERVE_BYTES;
}

/** E_DISK before anything is downloaded when the file system holding `path` has less than `bytes` available. */
export async function requireFreeSpace(path: string, bytes: number): Promise<void> {
  if (bytes === 0) return;
  const { bavail, bsize } = await statfs(path);
  const available = bavail * bsize;
  if (available < bytes) {
    throw new PrtiqlError('E_DISK', `not enough free space for the update in ${path}: ${bytes} bytes needed, ${available} available`);
  }
}
