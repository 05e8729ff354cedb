import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { isTemporarySibling } from '../../filesystem/durable.js';
import { DeviceStore } from '../../applier/device-store/device-store.js';
import { digestHex, sha256Digest, sha256Hex, type Digest } from '../../shared/digest.js';
import { readTarEntries } from './tar-entries.js';
import type { PublishedRelease } from './signed-artifact-store.js';
import { storedLayerDigest } from './stored-layer-tar.js';
import { listTree, type ListedNode } from './tree-listing.js';
import { unlessMissing } from './unless-missing.js';

/** What one layer directory must hold: every tar entry with its attributes, nothing else. */
interface ExpectedNode {
  type: ListedNode['type'] | 'hardlink';
  mode: number;
  uid: number;
  gid: number;
  /** Absent for parent directories the tar does not list (their time is that of extraction). */
  mtimeMs?: number;
  sha256?: string;
  linkname?: string;
}

export interface KnownReleases {
  channel: string;
  /** The trust root the store must have pinned, byte for byte. */
  trustRoot: Buffer;
  /** Release version by manifest hex. */
  versions: Map<string, number>;
  /** Manifest and config digests of each image, by manifest hex. */
  documents: Map<string, { manifest: Digest; config: Digest }>;
  /** Expected content of each layer, by diffID hex; '.' is the layer directory itself. */
  layers: Map<string, Map<string, ExpectedNode>>;
}

export async function knownReleases(releases: PublishedRelease[], trustRoot: Buffer): Promise<KnownReleases> {
  const known: KnownReleases = { channel: releases[0].release.channel, trustRoot, versions: new Map(), documents: new Map(), layers: new Map() };
  for (const { release, manifestDigest, layerTars } of releases) {
    known.versions.set(digestHex(manifestDigest), release.version);
    known.documents.set(digestHex(manifestDigest), { manifest: manifestDigest, config: release.config.digest });
    for (const tar of layerTars) known.layers.set(digestHex(sha256Digest(tar)), await expectedNodes(tar));
  }
  return known;
}

function parentOf(path: string): string {
  return path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '.';
}

/** Parent directories the tar does not list, the layer directory among them, are made 0755 and owned by root. */
const IMPLIED_DIRECTORY: ExpectedNode = { type: 'directory', mode: 0o755, uid: 0, gid: 0 };

async function expectedNodes(tar: Buffer): Promise<Map<string, ExpectedNode>> {
  const nodes = new Map<string, ExpectedNode>();
  for (const { header, content } of await readTarEntries(Readable.from([tar]))) {
    const path = header.name.replace(/^\.\//, '').replace(/\/$/, '') || '.';
    const common = { mode: header.mode ?? 0, uid: header.uid ?? 0, gid: header.gid ?? 0, mtimeMs: (header.mtime?.getTime() ?? 0) };
    if (header.type === 'file') nodes.set(path, { type: 'file', ...common, sha256: sha256Hex(content) });
    else if (header.type === 'directory') nodes.set(path, { type: 'directory', ...common });
    else if (header.type === 'symlink') nodes.set(path, { type: 'symlink', ...common, linkname: header.linkname ?? '' });
    else if (header.type === 'link') nodes.set(path, { type: 'hardlink', ...common, linkname: header.linkname ?? '' });
    else throw new Error(`fixture layer entry ${path} has type ${header.type}`);
  }
  for (const path of [...nodes.keys()]) {
    for (let parent = parentOf(path); path !== '.' && !nodes.has(parent); parent = parentOf(parent)) {
      nodes.set(parent, IMPLIED_DIRECTORY);
      if (parent === '.') break;
    }
  }
  if (!nodes.has('.')) nodes.set('.', IMPLIED_DIRECTORY);
  return nodes;
}

export interface StoreCheck {
  /** Version of the release `current` names; null when there is none. */
  current: number | null;
  /** Version of the release `previous` names; null when there is none. */
  previous: number | null;
  /** Everything that is wrong; empty for a store that holds complete versions only. */
  problems: string[];
}

/**
 * When the store is looked at: `settled` after a run finished (or failed cleanly), `interrupted`
 * right after a crash, where the windows docs/device-store.md ("Crashes") describes are allowed:
 * staging/ and temporaries, complete images and layers nothing uses yet (or any more), a
 * `.meta` whose directory is not (or no longer) there, `previous` already equal to `current`
 * between the two pointer swaps, and state.json one release behind `current`.
 */
export type StoreMoment = 'settled' | 'interrupted';

interface PointedImage {
  hex: string;
  version: number;
}

/** Directories of the store the applier creates, and the files it writes, with their modes. */
const STORE_MODES: [string, number][] = [
  ['.', 0o700],
  ['trust', 0o700],
  ['trust/root.json', 0o600],
  ['layers', 0o700],
  ['images', 0o700],
  ['state.json', 0o600],
];

/**
 * The store's crash invariant, over the whole store: `current` and `previous` name complete
 * images of known releases and the rollback target survives; state.json agrees with them; the
 * pinned trust root is intact; images/ holds complete known images only, and every layer
 * directory (whether an image uses it or not: an update trusts any it finds) exactly its
 * layer, with metadata that rebuilds its tar; modes and owners are the applier's. In a
 * `settled` store nothing else is left: no staging/, no temporaries, no image or layer no
 * pointer keeps.
 */
export async function checkStore(root: string, known: KnownReleases, moment: StoreMoment = 'settled'): Promise<StoreCheck> {
  const problems: string[] = [];
  await checkOwnership(root, problems);
  const current = await checkPointer(root, 'current', known, problems);
  const previous = await checkPointer(root, 'previous', known, problems);
  const state = await readState(root, known, problems);
  if (state) await checkPointersAgainstState(root, { current, previous }, state, moment, known, problems);
  await checkTrust(root, known, problems);
  await checkLeftovers(root, moment, problems);
  const kept = [current, previous, ...(await containerImages(root))].filter((image): image is PointedImage => image !== null);
  const usedLayers = await checkImages(root, kept, moment, known, problems);
  await checkLayers(root, usedLayers, moment, known, problems);
  return { current: current?.version ?? null, previous: previous?.version ?? null, problems };
}

function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`;
}

async function checkOwnership(root: string, problems: string[]): Promise<void> {
  const uid = process.getuid?.() ?? 0;
  for (const [path, mode] of STORE_MODES) {
    const info = await unlessMissing(lstat(join(root, path)));
    if (!info) problems.push(`${path} is missing`);
    else if ((info.mode & 0o7777) !== mode) problems.push(`${path} has mode ${octal(info.mode)}, expected ${octal(mode)}`);
    else if (info.uid !== uid) problems.push(`${path} is owned by uid ${info.uid}, expected ${uid}`);
  }
}

async function checkPointer(root: string, pointer: 'current' | 'previous', known: KnownReleases, problems: string[]): Promise<PointedImage | null> {
  const target = await readlink(join(root, pointer)).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    if (error.code === 'EINVAL') return 'not a symlink';
    throw error;
  });
  if (target === null) {
    if (pointer === 'current') problems.push('current is missing');
    return null;
  }
  const hex = /^images\/([0-9a-f]{64})$/.exec(target)?.[1];
  const version = hex === undefined ? undefined : known.versions.get(hex);
  if (hex === undefined || version === undefined) {
    problems.push(`${pointer} -> ${target} names no known release`);
    return null;
  }
  await checkImage(root, hex, `${pointer} (version ${version})`, known, problems);
  return { hex, version };
}

/** A complete image: the signed manifest and config, the complete marker, every layer present; 0700 and 0600. */
async function checkImage(root: string, hex: string, what: string, known: KnownReleases, problems: string[]): Promise<string[]> {
  const documents = known.documents.get(hex);
  if (!documents) {
    problems.push(`${what}: images/${hex} is no known release image`);
    return [];
  }
  const image = join(root, 'images', hex);
  const digestOf = async (file: string) => readFile(join(image, file)).then(sha256Digest, () => 'missing');
  if ((await digestOf('manifest.json')) !== documents.manifest) problems.push(`${what}: manifest.json is missing or wrong`);
  if ((await digestOf('config.json')) !== documents.config) problems.push(`${what}: config.json is missing or wrong`);
  if ((await digestOf('complete')) === 'missing') problems.push(`${what}: the image has no complete marker`);
  for (const [path, mode] of [['.', 0o700], ['manifest.json', 0o600], ['config.json', 0o600], ['complete', 0o600]] as const) {
    const info = await unlessMissing(lstat(join(image, path)));
    if (info && (info.mode & 0o7777) !== mode) problems.push(`${what}: images/${hex.slice(0, 12)}/${path} has mode ${octal(info.mode)}, expected ${octal(mode)}`);
  }
  let diffIDs: Digest[] = [];
  try {
    diffIDs = (JSON.parse(await readFile(join(image, 'config.json'), 'utf8')) as { rootfs: { diff_ids: Digest[] } }).rootfs.diff_ids;
  } catch {
    return [];
  }
  for (const diffID of diffIDs) {
    if (!(await unlessMissing(lstat(join(root, 'layers', digestHex(diffID)))))) problems.push(`${what}: layer ${diffID} is missing`);
  }
  return diffIDs.map(digestHex);
}

interface StateFile {
  channel: string;
  installed: { version: number; manifest: Digest } | null;
  previous: { version: number; manifest: Digest } | null;
  highestSeen: number;
}

async function readState(root: string, known: KnownReleases, problems: string[]): Promise<StateFile | null> {
  let state: StateFile;
  try {
    state = JSON.parse(await readFile(join(root, 'state.json'), 'utf8')) as StateFile;
  } catch (error) {
    problems.push(`state.json cannot be read: ${(error as Error).message}`);
    return null;
  }
  if (state?.channel !== known.channel) problems.push(`state.json: channel is ${JSON.stringify(state?.channel)}, expected ${known.channel}`);
  for (const key of ['installed', 'previous'] as const) {
    const release = state?.[key];
    if (release === null) continue;
    const version = known.versions.get(digestHex((release?.manifest ?? 'sha256:') as Digest));
    if (version === undefined || version !== release?.version) problems.push(`state.json: ${key} ${JSON.stringify(release)} is no known release`);
  }
  if (!Number.isSafeInteger(state?.highestSeen) || state.highestSeen < (state.installed?.version ?? 0)) {
    problems.push(`state.json: highestSeen ${state?.highestSeen} is below the installed version`);
  }
  return state;
}

const hexOf = (release: { manifest: Digest } | null): string | null => (release ? digestHex(release.manifest) : null);

/** The pointers and state.json in one of the states an update passes through, the rollback target complete. */
async function checkPointersAgainstState(
  root: string,
  pointers: { current: PointedImage | null; previous: PointedImage | null },
  state: StateFile,
  moment: StoreMoment,
  known: KnownReleases,
  problems: string[],
): Promise<void> {
  const current = pointers.current?.hex ?? null;
  const previous = pointers.previous?.hex ?? null;
  const installed = hexOf(state.installed);
  const recordedPrevious = hexOf(state.previous);
  const agree = current === installed && previous === recordedPrevious && (previous === null || previous !== current);
  if (agree) return;
  const describe = `current ${pointers.current?.version ?? 'none'}, previous ${pointers.previous?.version ?? 'none'}, state.json installed ${state.installed?.version ?? 'none'} and previous ${state.previous?.version ?? 'none'}`;
  if (moment === 'interrupted') {
    // between the two pointer swaps: `previous` already names the old current; the rollback target is the one state.json records
    if (current !== null && previous === current && installed === current) {
      if (recordedPrevious !== null) await checkImage(root, recordedPrevious, `the rollback target (version ${state.previous?.version})`, known, problems);
      return;
    }
    // after the swaps, before state.json: current is newer, previous is the release state.json still calls installed
    if (current !== null && installed !== null && previous === installed && (pointers.current?.version ?? 0) > (state.installed?.version ?? 0)) return;
  }
  problems.push(`the pointers and state.json disagree (${describe})${moment === 'settled' ? '' : ', in no state an update passes through'}`);
}

async function checkTrust(root: string, known: KnownReleases, problems: string[]): Promise<void> {
  const pinned = await unlessMissing(readFile(join(root, 'trust', 'root.json')));
  if (pinned === null) problems.push('trust/root.json is missing');
  else if (!pinned.equals(known.trustRoot)) problems.push('trust/root.json is not the pinned trust root');
}

/** The names in a directory; none where it does not exist. */
async function namesIn(dir: string): Promise<string[]> {
  return (await unlessMissing(readdir(dir))) ?? [];
}

/** Where a crash may leave work in progress; a settled store has none of it. */
async function checkLeftovers(root: string, moment: StoreMoment, problems: string[]): Promise<void> {
  if (moment === 'interrupted') return;
  for (const dir of ['.', 'trust']) {
    for (const name of await namesIn(join(root, dir))) {
      if (isTemporarySibling(name)) problems.push(`${dir}/${name} is a temporary left behind`);
    }
  }
  if (await unlessMissing(lstat(join(root, 'staging')))) problems.push('staging/ is left behind');
}

async function containerImages(root: string): Promise<PointedImage[]> {
  const names = await namesIn(join(root, 'containers'));
  const images: PointedImage[] = [];
  for (const name of names) {
    const digest = (await unlessMissing(readFile(join(root, 'containers', name, 'image'), 'utf8'))) ?? '';
    if (digest.trim() !== '') images.push({ hex: digestHex(digest.trim() as Digest), version: 0 });
  }
  return images;
}

/** Every entry of images/ is a complete known image; a settled store keeps only the ones a pointer or container names. Returns the layers kept images use. */
async function checkImages(root: string, kept: PointedImage[], moment: StoreMoment, known: KnownReleases, problems: string[]): Promise<Set<string>> {
  const keptHexes = new Set(kept.map((image) => image.hex));
  const used = new Set<string>();
  for (const name of await readdir(join(root, 'images'))) {
    const layers = await checkImage(root, name, `images/${name.slice(0, 12)}`, known, problems);
    if (keptHexes.has(name)) for (const layer of layers) used.add(layer);
    else if (moment === 'settled') problems.push(`images/${name.slice(0, 12)} is not named by current, previous or a container`);
  }
  return used;
}

async function checkLayers(root: string, used: Set<string>, moment: StoreMoment, known: KnownReleases, problems: string[]): Promise<void> {
  const names = await readdir(join(root, 'layers'));
  const directories = new Set(names.filter((name) => !name.endsWith('.meta')));
  for (const name of names) {
    if (!name.endsWith('.meta')) continue;
    const info = await lstat(join(root, 'layers', name));
    if ((info.mode & 0o7777) !== 0o600 || !info.isFile()) problems.push(`layers/${name.slice(0, 12)}….meta has mode ${octal(info.mode)}, expected a file of mode 0600`);
    if (!directories.has(name.slice(0, -'.meta'.length)) && moment === 'settled') problems.push(`layers/${name.slice(0, 12)}….meta has no layer directory`);
  }
  for (const name of directories) {
    const expected = known.layers.get(name);
    if (!expected) problems.push(`layers/${name} is no known layer`);
    else await checkLayer(root, name, expected, problems);
    if (moment === 'settled' && !used.has(name)) problems.push(`layers/${name.slice(0, 12)} is used by no kept image`);
  }
}

async function checkLayer(root: string, hex: string, expected: Map<string, ExpectedNode>, problems: string[]): Promise<void> {
  const listed = await listTree(join(root, 'layers', hex), { hashContent: true });
  const byPath = new Map(listed.map((node) => [node.path, node]));
  const report = (message: string) => problems.push(`layer ${hex.slice(0, 12)}: ${message}`);
  for (const node of listed) if (!expected.has(node.path)) report(`${node.path} is not in the layer`);
  for (const [path, want] of expected) {
    const node = byPath.get(path);
    if (!node) {
      report(`${path} is missing`);
      continue;
    }
    if (want.type === 'hardlink') {
      if (node.ino !== byPath.get(want.linkname ?? '')?.ino) report(`${path} is not a hard link to ${want.linkname}`);
      continue;
    }
    const actual: ExpectedNode = {
      type: node.type,
      mode: node.mode,
      uid: node.uid,
      gid: node.gid,
      mtimeMs: node.mtimeMs,
      sha256: node.sha256,
      linkname: node.linkname,
    };
    for (const key of Object.keys(want) as (keyof ExpectedNode)[]) {
      // a symlink's own mode means nothing on Linux
      if (key === 'mode' && want.type === 'symlink') continue;
      const shown = (value: unknown) => (key === 'mode' ? octal(value as number) : String(value));
      if (actual[key] !== want[key]) report(`${path}: ${key} is ${shown(actual[key])}, expected ${shown(want[key])}`);
    }
  }
  await checkMeta(root, hex, report);
}

/** The `.meta` beside a present layer directory rebuilds the layer's tar from its files, as the device reads it for a delta. */
async function checkMeta(root: string, hex: string, report: (message: string) => void): Promise<void> {
  try {
    if ((await storedLayerDigest(await DeviceStore.open(root), `sha256:${hex}`)) !== `sha256:${hex}`) report('its metadata and files rebuild another tar');
  } catch (error) {
    report(`its metadata and files do not rebuild the tar: ${(error as Error).message}`);
  }
}
