import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { openLayerMetaFile } from '../../applier/layer-meta-file.js';
import { DigestCounter, digestHex, sha256Digest, sha256Hex, type Digest } from '../../shared/digest.js';
import { reassembleTar } from '../../shared/layer-meta.js';
import { readTarEntries } from './tar-entries.js';
import type { PublishedRelease } from './signed-artifact-store.js';
import { listTree, type ListedNode } from './tree-listing.js';

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
  /** Release version by manifest hex. */
  versions: Map<string, number>;
  /** Manifest and config digests of each image, by manifest hex. */
  documents: Map<string, { manifest: Digest; config: Digest }>;
  /** Expected content of each layer, by diffID hex. */
  layers: Map<string, Map<string, ExpectedNode>>;
}

export async function knownReleases(releases: PublishedRelease[]): Promise<KnownReleases> {
  const known: KnownReleases = { versions: new Map(), documents: new Map(), layers: new Map() };
  for (const { release, manifestDigest, layerTars } of releases) {
    known.versions.set(digestHex(manifestDigest), release.version);
    known.documents.set(digestHex(manifestDigest), { manifest: manifestDigest, config: release.config.digest });
    for (const tar of layerTars) known.layers.set(digestHex(sha256Digest(tar)), await expectedNodes(tar));
  }
  return known;
}

function parentOf(path: string): string {
  return path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
}

async function expectedNodes(tar: Buffer): Promise<Map<string, ExpectedNode>> {
  const nodes = new Map<string, ExpectedNode>();
  for (const { header, content } of await readTarEntries(Readable.from([tar]))) {
    const path = header.name.replace(/^\.\//, '').replace(/\/$/, '');
    const common = { mode: header.mode ?? 0, uid: header.uid ?? 0, gid: header.gid ?? 0, mtimeMs: (header.mtime?.getTime() ?? 0) };
    if (header.type === 'file') nodes.set(path, { type: 'file', ...common, sha256: sha256Hex(content) });
    else if (header.type === 'directory') nodes.set(path, { type: 'directory', ...common });
    else if (header.type === 'symlink') nodes.set(path, { type: 'symlink', ...common, linkname: header.linkname ?? '' });
    else if (header.type === 'link') nodes.set(path, { type: 'hardlink', ...common, linkname: header.linkname ?? '' });
    else throw new Error(`fixture layer entry ${path} has type ${header.type}`);
  }
  for (const path of [...nodes.keys()]) {
    for (let parent = parentOf(path); parent !== '' && !nodes.has(parent); parent = parentOf(parent)) {
      nodes.set(parent, { type: 'directory', mode: 0o755, uid: 0, gid: 0 });
    }
  }
  return nodes;
}

export interface StoreCheck {
  /** Version of the release `current` names; null when there is none. */
  current: number | null;
  /** Everything that is wrong; empty for a store that holds complete versions only. */
  problems: string[];
}

/**
 * The store's crash invariant: `current` and `previous` name complete images of known
 * releases, and every layer directory in layers/ (whether an image uses it or not: an update
 * trusts any it finds) holds exactly its layer, with metadata that rebuilds its tar.
 */
export async function checkStore(root: string, known: KnownReleases): Promise<StoreCheck> {
  const problems: string[] = [];
  const versions: Record<string, number | null> = {};
  for (const pointer of ['current', 'previous'] as const) {
    versions[pointer] = await checkPointer(root, pointer, known, problems);
  }
  for (const name of await readdir(join(root, 'layers'))) {
    if (name.endsWith('.meta')) continue;
    const expected = known.layers.get(name);
    if (!expected) problems.push(`layers/${name} is no known layer`);
    else await checkLayer(join(root, 'layers', name), name, expected, problems);
  }
  return { current: versions.current, problems };
}

async function checkPointer(root: string, pointer: 'current' | 'previous', known: KnownReleases, problems: string[]): Promise<number | null> {
  const target = await readlink(join(root, pointer)).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (target === null) {
    if (pointer === 'current') problems.push('current is missing');
    return null;
  }
  const hex = target.replace(/^images\//, '');
  const documents = known.documents.get(hex);
  if (!documents) {
    problems.push(`${pointer} -> ${target} names no known release`);
    return null;
  }
  const image = join(root, 'images', hex);
  const digestOf = async (file: string) => readFile(join(image, file)).then(sha256Digest, () => 'missing');
  if ((await digestOf('manifest.json')) !== documents.manifest) problems.push(`${pointer}: manifest.json is missing or wrong`);
  if ((await digestOf('config.json')) !== documents.config) problems.push(`${pointer}: config.json is missing or wrong`);
  if ((await digestOf('complete')) === 'missing') problems.push(`${pointer}: the image has no complete marker`);
  const configText = await readFile(join(image, 'config.json'), 'utf8').catch(() => '');
  let diffIDs: Digest[] = [];
  try {
    diffIDs = (JSON.parse(configText) as { rootfs: { diff_ids: Digest[] } }).rootfs.diff_ids;
  } catch {
    return known.versions.get(hex) ?? null;
  }
  for (const diffID of diffIDs) {
    const present = await lstat(join(root, 'layers', digestHex(diffID))).then(() => true, () => false);
    if (!present) problems.push(`${pointer}: layer ${diffID} is missing`);
  }
  return known.versions.get(hex) ?? null;
}

async function checkLayer(dir: string, hex: string, expected: Map<string, ExpectedNode>, problems: string[]): Promise<void> {
  const listed = (await listTree(dir)).filter((node) => node.path !== '.');
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
      sha256: node.content === undefined ? undefined : sha256Hex(Buffer.from(node.content, 'base64')),
      linkname: node.linkname,
    };
    for (const key of Object.keys(want) as (keyof ExpectedNode)[]) {
      // a symlink's own mode means nothing on Linux
      if (key === 'mode' && want.type === 'symlink') continue;
      if (actual[key] !== want[key]) report(`${path}: ${key} is ${String(actual[key])}, expected ${String(want[key])}`);
    }
  }
  await checkMeta(dir, hex, report);
}

/** The `.meta` beside a present layer directory rebuilds the layer's tar from its files. */
async function checkMeta(dir: string, hex: string, report: (message: string) => void): Promise<void> {
  let opened;
  try {
    opened = await openLayerMetaFile(`${dir}.meta`);
  } catch (error) {
    report(`its metadata cannot be opened: ${(error as Error).message}`);
    return;
  }
  try {
    const counter = new DigestCounter();
    for await (const chunk of reassembleTar(opened.meta, opened.readSkeleton, (entry) => createReadStream(join(dir, entry.path)))) {
      counter.update(chunk);
    }
    if (digestHex(counter.digest()) !== hex) report('its metadata and files rebuild another tar');
  } catch (error) {
    report(`its metadata and files do not rebuild the tar: ${(error as Error).message}`);
  } finally {
    await opened.close();
  }
}
