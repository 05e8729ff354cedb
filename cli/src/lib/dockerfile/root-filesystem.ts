import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { extractLayer, extractLimits } from '../../../../filesystem/extract.js';
import { applyLayerDirectory } from '../../../../filesystem/rootfs.js';
import type { Digest } from '../../../../shared/digest.js';
import { splitTar } from '../../../../shared/tar/split.js';

/** An empty root filesystem directory: `/` is 0755 root:root. */
export async function createRootDirectory(path: string): Promise<void> {
  await mkdir(path, { recursive: true });
  await chmod(path, 0o755);
}

/**
 * Applies one layer (its uncompressed tar) on top of the root filesystem `root`: the tar is
 * extracted safely into a fresh directory under `scratch` (no device nodes, nothing outside,
 * never through a symlink of the archive), then merged with OCI whiteouts honoured, never
 * following a symlink of `root`.
 */
export async function applyLayerTar(tar: Readable, diffID: Digest, root: string, scratch: string, maxBytes = Number.MAX_SAFE_INTEGER): Promise<void> {
  const work = await mkdtemp(join(scratch, 'layer-'));
  try {
    const extracted = join(work, 'tree');
    await mkdir(extracted);
    await extractLayer(splitTar(tar), { root: extracted, skeletonPath: join(work, 'skeleton'), diffID }, extractLimits(maxBytes));
    await applyLayerDirectory(extracted, root, new Map());
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
