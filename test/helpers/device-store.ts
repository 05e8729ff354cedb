import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DigestCounter, sha256Digest, type Digest } from '../../shared/digest.js';
import { MediaType, type ContainerConfig, type ImageConfig, type ImageManifest } from '../../shared/oci.js';
import { deterministicTar, type TarEntrySource } from '../../shared/tar/deterministic-writer.js';
import { DeviceStore } from '../../applier/device-store/device-store.js';

/** Fills an empty directory with one layer's files (whiteouts as literal `.wh.` files). */
export type LayerContent = (dir: string) => Promise<void>;

export interface InstalledTestImage {
  imageDir: string;
  /** Committed layer directories, bottom to top. */
  layerDirs: string[];
  diffIds: Digest[];
}

/**
 * Installs an image into a device store as an update leaves it: `layers/<hex>/` extracted
 * (without the `.meta` files, which only deltas need), the image record, and `current`
 * pointing at it. Layer names are honest: each diffID is the digest of the tree's tar.
 */
export async function installImage(root: string, layers: LayerContent[], config: ContainerConfig): Promise<InstalledTestImage> {
  const store = await DeviceStore.create(root);
  const layerDirs: string[] = [];
  const diffIds: Digest[] = [];
  const sizes: number[] = [];
  for (const [index, fill] of layers.entries()) {
    const staging = await store.stagingPath(`test-layer-${index}`);
    await mkdir(staging);
    await fill(staging);
    const { digest, size } = await treeDiffId(staging);
    // images may share layers, as a store shares them
    if (await store.hasLayer(digest)) await rm(staging, { recursive: true });
    else await rename(staging, store.layerDir(digest));
    layerDirs.push(store.layerDir(digest));
    diffIds.push(digest);
    sizes.push(size);
  }
  const imageConfig: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    config,
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
  const configBytes = Buffer.from(JSON.stringify(imageConfig));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.imageManifest,
    config: { mediaType: MediaType.imageConfig, digest: sha256Digest(configBytes), size: configBytes.length },
    layers: diffIds.map((digest, index) => ({ mediaType: MediaType.layerTar, digest, size: sizes[index] })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = sha256Digest(manifestBytes);
  await store.commitImage(manifestDigest, manifestBytes, configBytes);
  await store.swapCurrent(manifestDigest);
  await store.clearStaging();
  return { imageDir: store.imageDir(manifestDigest), layerDirs, diffIds };
}

/** The diffID a layer tar of this tree would have, written by the deterministic tar writer. */
export async function treeDiffId(dir: string): Promise<{ digest: Digest; size: number }> {
  const counter = new DigestCounter();
  for await (const chunk of deterministicTar(await treeEntries(dir), { mtime: 0 })) counter.update(chunk as Buffer);
  return { digest: counter.digest(), size: counter.size };
}

/** A directory tree as tar entries: owners, modes, symlinks and file contents as they are on disk. */
export async function treeEntries(root: string): Promise<TarEntrySource[]> {
  const entries: TarEntrySource[] = [];
  const visit = async (relative: string): Promise<void> => {
    for (const name of await readdir(join(root, relative))) {
      const path = relative === '' ? name : `${relative}/${name}`;
      const absolute = join(root, path);
      const stats = await lstat(absolute);
      const common = { path, mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid };
      if (stats.isDirectory()) {
        entries.push({ ...common, type: 'directory' });
        await visit(path);
      } else if (stats.isSymbolicLink()) {
        entries.push({ ...common, type: 'symlink', linkname: await readlink(absolute) });
      } else if (stats.isFile()) {
        entries.push({ ...common, type: 'file', size: stats.size, open: () => createReadStream(absolute) });
      } else {
        throw new Error(`test layer entry ${absolute} is not a file, directory or symlink`);
      }
    }
  };
  await visit('');
  return entries;
}

/**
 * One line per entry with everything that must not change: type, mode, owner, size, mtime
 * and the content hash or link target. Compare two snapshots to prove a tree untouched.
 */
export async function snapshotTree(root: string): Promise<string[]> {
  const rootStats = await lstat(root);
  const lines = [`./ ${(rootStats.mode & 0o7777).toString(8)} ${rootStats.uid}:${rootStats.gid} ${rootStats.mtimeMs}`];
  const visit = async (relative: string): Promise<void> => {
    for (const name of (await readdir(join(root, relative))).sort()) {
      const path = relative === '' ? name : `${relative}/${name}`;
      const absolute = join(root, path);
      const stats = await lstat(absolute);
      const owner = `${(stats.mode & 0o7777).toString(8)} ${stats.uid}:${stats.gid} ${stats.mtimeMs}`;
      if (stats.isDirectory()) {
        lines.push(`${path}/ ${owner}`);
        await visit(path);
      } else if (stats.isSymbolicLink()) {
        lines.push(`${path} -> ${await readlink(absolute)} ${owner}`);
      } else {
        const hash = stats.isFile() ? createHash('sha256').update(await readFile(absolute)).digest('hex') : 'special';
        lines.push(`${path} ${stats.size} ${hash} ${owner}`);
      }
    }
  };
  await visit('');
  return lines;
}
