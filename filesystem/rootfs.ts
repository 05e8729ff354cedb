import { constants, type Stats } from 'node:fs';
import { chmod, copyFile, lchown, link, lstat, lutimes, mkdir, readdir, readlink, rm, stat, symlink } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { isPrtiqlError, PrtiqlError } from '../shared/errors.js';
import { hasWhiteouts, lstatIfExists, readLayerDirectory, scanWhiteouts } from './layer-view.js';
import { runToolOrFail } from './tool.js';

/**
 * `overlay`: mount the committed layers read-only under a per-container upper dir.
 * `copy`: copy the layers into a per-container tree (when overlayfs is unavailable).
 * `auto`: overlay, falling back to copy if the mount cannot be made.
 */
export type RootfsMode = 'auto' | 'overlay' | 'copy';

/** Everything of one container lives in its bundle directory; the rootfs is `rootfs/` there. */
export function rootfsPath(bundleDir: string): string {
  return join(bundleDir, 'rootfs');
}

/**
 * Builds the container's root filesystem from the image layers (bottom to top) at
 * `<bundleDir>/rootfs`. Committed layer directories are only ever read.
 */
export async function assembleRootfs(
  layersBottomUp: string[],
  bundleDir: string,
  mode: RootfsMode,
  warn: (message: string) => void,
): Promise<'overlay' | 'copy'> {
  if (mode !== 'copy') {
    try {
      await mountOverlay(layersBottomUp, bundleDir);
      return 'overlay';
    } catch (error) {
      // an unsafe layer is no less unsafe copied
      if (mode === 'overlay' || isPrtiqlError(error, 'E_UNSAFE_ENTRY')) throw error;
      warn(`overlay root filesystem unavailable (${(error as Error).message}); copying the layers instead`);
      await removeOverlayParts(bundleDir);
    }
  }
  await copyLayers(layersBottomUp, rootfsPath(bundleDir));
  return 'copy';
}

/** Unmounts the rootfs if it is mounted, then deletes the bundle directory. Safe to repeat. */
export async function releaseRootfs(bundleDir: string): Promise<void> {
  const rootfs = rootfsPath(bundleDir);
  while (await isMounted(rootfs, bundleDir)) await runToolOrFail('umount', [rootfs]);
  await rm(bundleDir, { recursive: true, force: true });
}

async function isMounted(path: string, parent: string): Promise<boolean> {
  try {
    return (await stat(path)).dev !== (await stat(parent)).dev;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

const OVERLAY_PARTS = ['upper', 'work', 'whiteouts', 'rootfs'];

async function removeOverlayParts(bundleDir: string): Promise<void> {
  for (const part of OVERLAY_PARTS) await rm(join(bundleDir, part), { recursive: true, force: true });
}

/**
 * overlayfs wants whiteouts as 0:0 character devices and opaque directories marked with the
 * trusted.overlay.opaque xattr, while committed layers keep the OCI marker files. A layer
 * with markers therefore gets two small per-container companions, built from its markers
 * only: `hide` (just below the layer) holds the overlay form of its whiteouts, so they hide
 * the lower layers but not the layer's own entries; `mask` (just above it) whites out the
 * marker files themselves so the container never sees them.
 */
async function mountOverlay(layersBottomUp: string[], bundleDir: string): Promise<void> {
  const whiteoutsDir = join(bundleDir, 'whiteouts');
  const whiteoutInode = join(whiteoutsDir, 'whiteout');
  let lowersTopDown: string[] = [];
  const opaqueDirs: string[] = [];

  for (const [index, layer] of layersBottomUp.entries()) {
    const whiteouts = await scanWhiteouts(layer);
    if (!hasWhiteouts(whiteouts)) {
      lowersTopDown = [layer, ...lowersTopDown];
      continue;
    }
    if (!(await lstatIfExists(whiteoutInode))) {
      await mkdir(whiteoutsDir);
      await runToolOrFail('mknod', [whiteoutInode, 'c', '0', '0']);
    }
    const hide = join(whiteoutsDir, `${index}-hide`);
    const mask = join(whiteoutsDir, `${index}-mask`);
    const hidden = new Set(whiteouts.hidden);
    const coveredByAncestor = (path: string) => ancestorsOf(path).some((ancestor) => hidden.has(ancestor));

    await mkdir(hide);
    for (const path of whiteouts.hidden) {
      if (coveredByAncestor(path)) continue;
      await mkdir(dirname(join(hide, path)), { recursive: true });
      await link(whiteoutInode, join(hide, path));
    }
    for (const path of whiteouts.opaqueDirs) {
      if (path === '' || hidden.has(path) || coveredByAncestor(path)) continue;
      await mkdir(join(hide, path), { recursive: true });
      opaqueDirs.push(join(hide, path));
    }

    await mkdir(mask);
    const maskDirs = new Set<string>();
    for (const path of whiteouts.markers) {
      for (const ancestor of ancestorsOf(path)) {
        if (maskDirs.has(ancestor)) continue;
        maskDirs.add(ancestor);
        await mkdir(join(mask, ancestor));
      }
      await link(whiteoutInode, join(mask, path));
    }
    // the mask sits above the layer, so its directories must look exactly like the layer's
    for (const directory of maskDirs) await copyMetadata(join(mask, directory), await lstat(join(layer, directory)));

    // an opaque layer root hides every layer below it; overlayfs ignores xattrs on lower roots
    const below = whiteouts.opaqueDirs.includes('') ? [] : [hide, ...lowersTopDown];
    lowersTopDown = [mask, layer, ...below];
  }
  if (opaqueDirs.length > 0) await runToolOrFail('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', ...opaqueDirs]);

  // the merged root directory shows the upper dir's own attributes
  await makeRootDirectory(join(bundleDir, 'upper'));
  await mkdir(join(bundleDir, 'work'));
  await mkdir(rootfsPath(bundleDir));

  // relative to the bundle, the option string stays short and free of separators
  const lowerdir = lowersTopDown.map((path) => relative(bundleDir, path));
  for (const path of lowerdir) {
    if (/[,:\\]/.test(path)) throw new PrtiqlError('E_RUNTIME', `layer path unusable in overlay options: ${path}`);
  }
  const options = `lowerdir=${lowerdir.join(':')},upperdir=upper,workdir=work`;
  await runToolOrFail('mount', ['-t', 'overlay', 'overlay', '-o', options, 'rootfs'], { cwd: bundleDir });
}

/** Proper ancestors of a relative path, outermost first: `a/b/c` -> `a`, `a/b`. */
function ancestorsOf(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(1).map((_, index) => parts.slice(0, index + 1).join('/'));
}

/** Applies the layers bottom to top into a plain directory, honouring OCI whiteouts. */
async function copyLayers(layersBottomUp: string[], target: string): Promise<void> {
  await makeRootDirectory(target);
  for (const layer of layersBottomUp) await applyLayerDirectory(layer, target, new Map());
}

/**
 * Whiteouts act on what the lower layers left, before this layer's own entries land.
 * `hardlinks` maps a source inode to its first copy, so links inside a layer stay links.
 * Never follows a symlink of `target`: a non-directory in the way of a directory is replaced.
 */
export async function applyLayerDirectory(source: string, target: string, hardlinks: Map<string, string>): Promise<void> {
  const directory = await readLayerDirectory(source);
  if (directory.opaque) {
    for (const name of await readdir(target)) await rm(join(target, name), { recursive: true, force: true });
  }
  for (const name of directory.whiteouts) await rm(join(target, name), { recursive: true, force: true });

  for (const entry of directory.entries) {
    const from = join(source, entry.name);
    const to = join(target, entry.name);
    const stats = await lstat(from);
    const existing = await lstatIfExists(to);
    if (stats.isDirectory()) {
      if (existing && !existing.isDirectory()) await rm(to, { recursive: true, force: true });
      if (!existing?.isDirectory()) await mkdir(to);
      await applyLayerDirectory(from, to, hardlinks);
      await copyMetadata(to, stats);
      continue;
    }
    if (existing) await rm(to, { recursive: true, force: true });
    if (stats.isFile()) {
      const inode = `${stats.dev}:${stats.ino}`;
      const first = stats.nlink > 1 ? hardlinks.get(inode) : undefined;
      if (first) {
        await link(first, to);
        continue;
      }
      await copyFile(from, to, constants.COPYFILE_FICLONE);
      if (stats.nlink > 1) hardlinks.set(inode, to);
    } else if (stats.isSymbolicLink()) {
      await symlink(await readlink(from), to);
    } else {
      throw new PrtiqlError('E_BAD_INPUT', `layer entry ${from} is neither a file, a directory nor a symlink`);
    }
    await copyMetadata(to, stats);
  }
}

/**
 * The container's `/` is 0755 root:root whatever the layer directories' own modes are: they
 * belong to the store, which keeps them private.
 */
async function makeRootDirectory(path: string): Promise<void> {
  await mkdir(path);
  await chmod(path, 0o755);
}

/** Owner before mode: chown clears setuid and setgid bits. */
async function copyMetadata(path: string, stats: Stats): Promise<void> {
  await lchown(path, stats.uid, stats.gid);
  if (!stats.isSymbolicLink()) await chmod(path, stats.mode & 0o7777);
  await lutimes(path, stats.atime, stats.mtime);
}
