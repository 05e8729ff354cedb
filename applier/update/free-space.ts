import { statfs } from 'node:fs/promises';
import { PrtiqlError } from '../../shared/errors.js';
import type { LayerPlan } from './layer-plan.js';

/** File system overhead allowed for on top of the signed tar sizes: blocks, inodes, directories. */
const RESERVE_BYTES = 4 * 1024 * 1024;
const RESERVE_FRACTION = 0.05;

/**
 * Free space needed to install the missing layers of `plans`: their signed tar sizes (content
 * plus headers, which bound the extracted files and the metadata), the largest download staged
 * beside them (a layer's delta and its full blob, the fallback), a reserve on top. A floor, not a
 * promise: many tiny files can need more, and a full disk during extraction still fails safely (E_DISK).
 */
export function spaceNeeded(plans: readonly LayerPlan[]): number {
  const missing = plans.filter((plan) => !plan.present);
  const tarBytes = missing.reduce((sum, plan) => sum + plan.layer.size, 0);
  const stagedBytes = Math.max(0, ...missing.map((plan) => plan.layer.blob.size + (plan.delta?.blob.size ?? 0)));
  return tarBytes === 0 ? 0 : Math.ceil(tarBytes * (1 + RESERVE_FRACTION)) + stagedBytes + RESERVE_BYTES;
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
