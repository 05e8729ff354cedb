import { access, chmod, mkdir, open, readdir, readFile, readlink, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { digestHex, isDigest, type Digest } from '../../shared/digest.js';
import { isPrtiqlError, PrtiqlError } from '../../shared/errors.js';
import { ownDirectoryEntries } from '../../shared/own-directory.js';
import type { ImageConfig, ImageManifest } from '../../shared/oci.js';
import { commitStep } from '../../filesystem/crash-point.js';
import { fsyncPath, isTemporarySibling, replaceFileDurably, replaceSymlinkDurably, syncHandle, writeAll } from '../../filesystem/durable.js';
import { WriteBack } from '../../filesystem/write-back.js';

/** The device store layout; docs/device-store.md describes it in full. */
export const STORE_LAYOUT = {
  trustRoot: 'trust/root.json',
  state: 'state.json',
  layers: 'layers',
  images: 'images',
  current: 'current',
  previous: 'previous',
  staging: 'staging',
  /** Verified beginnings of blobs being downloaded, by blob digest hex: what a later run resumes from. */
  downloads: 'staging/downloads',
  lock: 'lock',
  /** Health verdicts of installed images, written by `run` (applier/device-store/health-record.ts). */
  health: 'health.json',
  /** One directory per container `run` started; `<name>/image` names the image it uses. */
  containers: 'containers',
} as const;

export const IMAGE_FILES = { manifest: 'manifest.json', config: 'config.json', complete: 'complete' } as const;

export type Pointer = 'current' | 'previous';

export interface InstalledRelease {
  version: number;
  manifest: Digest;
}

export interface StoreState {
  channel: string;
  installed: InstalledRelease | null;
  previous: InstalledRelease | null;
  /** Highest release version whose signature this device has verified. */
  highestSeen: number;
  /**
   * The newest time signed by the release keys that this device has verified (a release's
   * `created`, never past that release's `expires`), RFC 3339. Release expiry is checked
   * against the later of it and the clock.
   */
  timeFloor?: string;
  /**
   * The newest timestamp `created` verified (never past the `expires` of the release it
   * names), with the timestamp key ids of the root that verified it. Timestamp expiry is
   * checked against the later of it, `timeFloor` and the clock, while the root's timestamp
   * keys are still exactly `keys`: rotating them discards it.
   */
  timestampFloor?: TimestampFloor;
}

export interface TimestampFloor {
  time: string;
  keys: string[];
}

function isTime(value: unknown): value is string {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value));
}

function isTimestampFloor(value: unknown): value is TimestampFloor {
  const floor = value as TimestampFloor;
  return !!floor && typeof floor === 'object' && isTime(floor.time) && Array.isArray(floor.keys) && floor.keys.every((key) => typeof key === 'string');
}

export interface StoredImage {
  manifestDigest: Digest;
  manifest: ImageManifest;
  config: ImageConfig;
  /** Lowest layer first, as in the config's rootfs.diff_ids. */
  layers: { diffID: Digest; path: string }[];
}

function isInstalled(value: unknown): value is InstalledRelease | null {
  const v = value as InstalledRelease | null;
  return v === null || (typeof v === 'object' && Number.isSafeInteger(v.version) && v.version >= 1 && isDigest(v.manifest));
}

function parseState(bytes: Buffer, path: string): StoreState {
  let state: StoreState;
  try {
    state = JSON.parse(bytes.toString('utf8')) as StoreState;
  } catch {
    throw new PrtiqlError('E_BAD_INPUT', `${path} is not valid JSON`);
  }
  const ok =
    state &&
    typeof state.channel === 'string' &&
    isInstalled(state.installed) &&
    isInstalled(state.previous) &&
    Number.isSafeInteger(state.highestSeen) &&
    state.highestSeen >= 0 &&
    (state.timeFloor === undefined || isTime(state.timeFloor)) &&
    (state.timestampFloor === undefined || isTimestampFloor(state.timestampFloor));
  if (!ok) throw new PrtiqlError('E_BAD_INPUT', `${path} is malformed`);
  return state;
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function ignoreMissing(error: unknown): null {
  if (isMissing(error)) return null;
  throw error;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}

async function writeNewFile(path: string, bytes: Uint8Array): Promise<void> {
  const handle = await open(path, 'wx', 0o600);
  try {
    await writeAll(handle, bytes);
    await syncHandle(handle);
  } finally {
    await handle.close();
  }
}

/** The directories every store has from its creation on. */
const REQUIRED_DIRECTORIES = [STORE_LAYOUT.layers, STORE_LAYOUT.images, dirname(STORE_LAYOUT.trustRoot)];

/** What a store's root may hold; lost+found is there when the store is a file system of its own. */
const STORE_ENTRIES: ReadonlySet<string> = new Set([...Object.values(STORE_LAYOUT).map((path) => path.split('/')[0]), 'lost+found']);

function isStoreEntry(name: string): boolean {
  return STORE_ENTRIES.has(name) || isTemporarySibling(name);
}

/**
 * The device's store of extracted layers and image records. Everything that becomes
 * reachable (a layer, an image, a pointer, the state) is made durable first and then
 * appears through one rename, so a power loss leaves either the old or the new state.
 */
export class DeviceStore {
  /** Paces the write-back of everything an update writes into the store: staged downloads and layers. */
  readonly writeBack: WriteBack;

  private constructor(readonly root: string) {
    this.writeBack = new WriteBack(root);
  }

  /**
   * An existing store; E_NO_STORE if there is none at `root`: a directory that lacks the
   * store's own directories (layers/, images/, trust/) or holds anything a store does not
   * is not one.
   */
  static async open(root: string): Promise<DeviceStore> {
    const entries = await ownDirectoryEntries(root, isStoreEntry, 'an applier store').catch((error: unknown) => {
      if (isPrtiqlError(error, 'E_USAGE')) return null;
      throw error;
    });
    if (entries && REQUIRED_DIRECTORIES.every((name) => entries.includes(name))) return new DeviceStore(root);
    throw new PrtiqlError('E_NO_STORE', `no applier store at ${root}`);
  }

  /**
   * The store at `root` to read without changing anything: it may not exist yet (then it reads
   * as an empty store), and anything but a store or an empty directory is refused as by create.
   */
  static async inspect(root: string): Promise<DeviceStore> {
    await ownDirectoryEntries(root, isStoreEntry, 'an applier store');
    return new DeviceStore(root);
  }

  /**
   * Opens the store, creating it (mode 0700) and its directories where missing. `root` must
   * be missing, an empty directory or a directory holding only store entries: anything else
   * is refused before it is changed in any way (no chmod, no file created).
   */
  static async create(root: string): Promise<DeviceStore> {
    const entries = await ownDirectoryEntries(root, isStoreEntry, 'an applier store');
    if (entries === null) await mkdir(root, { recursive: true, mode: 0o700 });
    else if (((await stat(root)).mode & 0o077) !== 0) await chmod(root, 0o700);
    for (const dir of REQUIRED_DIRECTORIES) await mkdir(join(root, dir), { recursive: true, mode: 0o700 });
    return new DeviceStore(root);
  }

  /**
   * Whether `root` holds a pinned trust root, changing nothing; a path `create` would refuse
   * is refused the same way.
   */
  static async hasPinnedTrustRoot(root: string): Promise<boolean> {
    if ((await ownDirectoryEntries(root, isStoreEntry, 'an applier store')) === null) return false;
    return access(join(root, STORE_LAYOUT.trustRoot)).then(() => true, () => false);
  }

  path(relative: string): string {
    return join(this.root, relative);
  }

  layerDir(diffID: Digest): string {
    return join(this.root, STORE_LAYOUT.layers, digestHex(diffID));
  }

  layerMetaPath(diffID: Digest): string {
    return `${this.layerDir(diffID)}.meta`;
  }

  imageDir(manifest: Digest): string {
    return join(this.root, STORE_LAYOUT.images, digestHex(manifest));
  }

  async readState(): Promise<StoreState | null> {
    const path = this.path(STORE_LAYOUT.state);
    try {
      return parseState(await readFile(path), path);
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async writeState(state: StoreState): Promise<void> {
    await replaceFileDurably(this.path(STORE_LAYOUT.state), Buffer.from(`${JSON.stringify(state, null, 2)}\n`));
  }

  /** Removes staging/ and the temporaries of state, pointer and trust root replacements a crash left. */
  async clearStaging(): Promise<void> {
    commitStep('remove', this.path(STORE_LAYOUT.staging));
    await rm(this.path(STORE_LAYOUT.staging), { recursive: true, force: true });
    await this.removeTemporaries();
  }

  /**
   * Removes the work in progress of an interrupted or failed run as clearStaging does, but keeps
   * the verified downloads in staging/downloads/ for the next attempt to resume from.
   */
  async clearStagedWork(): Promise<void> {
    const staging = this.path(STORE_LAYOUT.staging);
    commitStep('remove', staging);
    const keep = basename(STORE_LAYOUT.downloads);
    for (const name of (await readdir(staging).catch(ignoreMissing)) ?? []) {
      if (name !== keep) await rm(join(staging, name), { recursive: true, force: true });
    }
    await this.removeTemporaries();
  }

  private async removeTemporaries(): Promise<void> {
    for (const dir of [this.root, dirname(this.path(STORE_LAYOUT.trustRoot))]) {
      for (const name of (await readdir(dir).catch(ignoreMissing)) ?? []) {
        if (isTemporarySibling(name)) await rm(join(dir, name), { force: true });
      }
    }
  }

  /** Where the verified beginning of `blob` is kept while it downloads. */
  downloadPath(blob: Digest): string {
    return join(this.root, STORE_LAYOUT.downloads, digestHex(blob));
  }

  /** Deletes the staged download of `blob`: its layer is committed, or it is of no use any more. */
  async discardDownload(blob: Digest): Promise<void> {
    const path = this.downloadPath(blob);
    if (!(await exists(path))) return;
    commitStep('remove', path);
    await rm(path, { force: true });
  }

  /** Deletes the staged downloads of every blob but `wanted`: space is kept only for what this update fetches. */
  async keepOnlyDownloads(wanted: ReadonlySet<Digest>): Promise<void> {
    const names = (await readdir(this.path(STORE_LAYOUT.downloads)).catch(ignoreMissing)) ?? [];
    const keep = new Set([...wanted].map(digestHex));
    for (const name of names) {
      if (keep.has(name)) continue;
      commitStep('remove', join(this.path(STORE_LAYOUT.downloads), name));
      await rm(join(this.path(STORE_LAYOUT.downloads), name), { recursive: true, force: true });
    }
  }

  /** A fresh path inside staging/ (which is created on demand). */
  async stagingPath(name: string): Promise<string> {
    const staging = this.path(STORE_LAYOUT.staging);
    await mkdir(staging, { recursive: true, mode: 0o700 });
    return join(staging, name);
  }

  /** A committed layer: its directory appears only after its metadata. */
  hasLayer(diffID: Digest): Promise<boolean> {
    return exists(this.layerDir(diffID));
  }

  /** Moves a durable staged layer and its metadata into layers/ (metadata first, directory last). */
  async commitLayer(diffID: Digest, stagedDir: string, stagedMeta: string): Promise<void> {
    commitStep('rename', this.layerMetaPath(diffID));
    await rename(stagedMeta, this.layerMetaPath(diffID));
    commitStep('rename', this.layerDir(diffID));
    await rename(stagedDir, this.layerDir(diffID));
    await fsyncPath(this.path(STORE_LAYOUT.layers));
  }

  hasImage(manifest: Digest): Promise<boolean> {
    return exists(join(this.imageDir(manifest), IMAGE_FILES.complete));
  }

  /** Writes images/<hex>/ with the verified manifest and config bytes, `complete` last. */
  async commitImage(manifest: Digest, manifestBytes: Uint8Array, configBytes: Uint8Array): Promise<void> {
    const staged = await this.stagingPath(`image-${digestHex(manifest)}`);
    await mkdir(staged, { mode: 0o700 });
    await writeNewFile(join(staged, IMAGE_FILES.manifest), manifestBytes);
    await writeNewFile(join(staged, IMAGE_FILES.config), configBytes);
    await writeNewFile(join(staged, IMAGE_FILES.complete), Buffer.alloc(0));
    await fsyncPath(staged);
    const target = this.imageDir(manifest);
    commitStep('remove', target);
    await rm(target, { recursive: true, force: true });
    commitStep('rename', target);
    await rename(staged, target);
    await fsyncPath(this.path(STORE_LAYOUT.images));
  }

  async pointer(name: Pointer): Promise<Digest | null> {
    let target: string;
    try {
      target = await readlink(this.path(STORE_LAYOUT[name]));
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
    const digest = `sha256:${target.slice(`${STORE_LAYOUT.images}/`.length)}`;
    if (!target.startsWith(`${STORE_LAYOUT.images}/`) || !isDigest(digest)) {
      throw new PrtiqlError('E_BAD_INPUT', `store pointer ${name} points outside images/: ${target}`);
    }
    return digest;
  }

  /** previous := current, then current := `manifest`; each an atomic symlink replacement. */
  async swapCurrent(manifest: Digest): Promise<void> {
    const current = await this.pointer('current');
    if (current === manifest) return;
    if (current) await replaceSymlinkDurably(this.path(STORE_LAYOUT.previous), `${STORE_LAYOUT.images}/${digestHex(current)}`);
    await replaceSymlinkDurably(this.path(STORE_LAYOUT.current), `${STORE_LAYOUT.images}/${digestHex(manifest)}`);
  }

  async readImage(manifest: Digest): Promise<StoredImage> {
    const dir = this.imageDir(manifest);
    if (!(await this.hasImage(manifest))) throw new PrtiqlError('E_NOT_FOUND', `image ${manifest} is not complete in the store`);
    const json = async <T>(name: string): Promise<T> => JSON.parse(await readFile(join(dir, name), 'utf8')) as T;
    const config = await json<ImageConfig>(IMAGE_FILES.config);
    return {
      manifestDigest: manifest,
      manifest: await json<ImageManifest>(IMAGE_FILES.manifest),
      config,
      layers: config.rootfs.diff_ids.map((diffID) => ({ diffID, path: this.layerDir(diffID) })),
    };
  }

  /** The image a pointer names, or null where the pointer is not set. */
  async pointedImage(name: Pointer): Promise<StoredImage | null> {
    const manifest = await this.pointer(name);
    return manifest ? this.readImage(manifest) : null;
  }

  /** The complete images state.json records as installed and previous. */
  private async recordedImages(): Promise<StoredImage[]> {
    const state = await this.readState();
    const recorded: StoredImage[] = [];
    for (const release of [state?.installed, state?.previous]) {
      if (release && (await this.hasImage(release.manifest))) recorded.push(await this.readImage(release.manifest));
    }
    return recorded;
  }

  /** `containers/<name>/image`: the manifest digest of the image a container was started from. */
  containerImagePath(name: string): string {
    return join(this.root, STORE_LAYOUT.containers, name, 'image');
  }

  /** Complete images that containers (running, or left by a crash until their next run) use. */
  async containerImages(): Promise<Digest[]> {
    let names: string[];
    try {
      names = await readdir(this.path(STORE_LAYOUT.containers));
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
    const images: Digest[] = [];
    for (const name of names) {
      const text = await readFile(this.containerImagePath(name), 'utf8').catch((error: unknown) => {
        if (isMissing(error)) return '';
        throw error;
      });
      const digest = text.trim();
      if (isDigest(digest) && (await this.hasImage(digest))) images.push(digest);
    }
    return images;
  }

  /**
   * Deletes images that neither `current`, `previous`, state.json nor a container names, and
   * layers no kept image uses: a running container keeps its image however many updates come,
   * and the rollback target state.json records survives a crash between the pointer swaps
   * (when `previous` already names the old `current`).
   */
  async collectGarbage(): Promise<{ images: string[]; layers: string[] }> {
    const pointed = (await Promise.all([this.pointedImage('current'), this.pointedImage('previous')])).filter(
      (image): image is StoredImage => image !== null,
    );
    const inContainers = await Promise.all((await this.containerImages()).map((digest) => this.readImage(digest)));
    const kept = [...pointed, ...inContainers, ...(await this.recordedImages())];
    const keptImages = new Set(kept.map((image) => digestHex(image.manifestDigest)));
    const keptLayers = new Set(kept.flatMap((image) => image.layers.map((layer) => digestHex(layer.diffID))));
    const images = this.path(STORE_LAYOUT.images);
    const layers = this.path(STORE_LAYOUT.layers);
    const removed = {
      images: (await readdir(images)).filter((name) => !keptImages.has(name)),
      // a layer's directory decides whether it is present, so it goes before its metadata
      layers: (await readdir(layers))
        .filter((name) => !keptLayers.has(name.replace(/\.meta$/, '')))
        .sort((a, b) => Number(a.endsWith('.meta')) - Number(b.endsWith('.meta'))),
    };
    if (removed.images.length + removed.layers.length === 0) return removed;
    // Each victim leaves images/ or layers/ in one rename, durably, before anything is deleted:
    // a crash midway never leaves a half-deleted image or layer that an update would take as complete.
    const garbage = await this.stagingPath('garbage');
    await mkdir(garbage, { recursive: true });
    for (const name of removed.images) {
      commitStep('rename', join(images, name));
      await rename(join(images, name), join(garbage, `image-${name}`));
    }
    for (const name of removed.layers) {
      commitStep('rename', join(layers, name));
      await rename(join(layers, name), join(garbage, `layer-${name}`));
    }
    await fsyncPath(images);
    await fsyncPath(layers);
    commitStep('remove', garbage);
    await rm(garbage, { recursive: true, force: true });
    return removed;
  }
}
