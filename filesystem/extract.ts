import { closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lutimesSync, mkdirSync, openSync, statSync, symlinkSync } from 'node:fs';
import type { Digest } from '../shared/digest.js';
import { PrtiqlError } from '../shared/errors.js';
import { LayerMetaBuilder, type LayerMeta } from '../shared/layer-meta.js';
import { DEFAULT_ENTRY_PATH_LIMITS, safeEntryPath, type EntryPathLimits } from '../shared/tar/entry-path.js';
import { isWhiteout, WHITEOUT_PREFIX } from '../shared/tar/whiteout.js';
import type { SplitPart, TarHeader } from '../shared/tar/split.js';
import { syncDescriptor, writeAllSync } from './durable.js';
import { WriteBack } from './write-back.js';

export interface ExtractLimits extends EntryPathLimits {
  maxEntries: number;
  /** Total regular-file content allowed: the layer's signed uncompressed size. */
  maxOutputBytes: number;
}

export const DEFAULT_MAX_ENTRIES = 250_000;

export function extractLimits(maxOutputBytes: number): ExtractLimits {
  return { ...DEFAULT_ENTRY_PATH_LIMITS, maxEntries: DEFAULT_MAX_ENTRIES, maxOutputBytes };
}

export interface ExtractTarget {
  /** An empty directory that only this extraction writes to. */
  root: string;
  /** Where the skeleton bytes of the layer metadata are written. */
  skeletonPath: string;
  diffID: Digest;
  /** Paces the write-back of what the extraction writes (default: its own, on `root`'s file system). */
  writeBack?: WriteBack;
}

type NodeKind = 'directory' | 'implicit-directory' | 'file' | 'whiteout' | 'symlink' | 'hardlink';

/** Skeleton bytes collected before one write: a header is 512 bytes, written in thousands. */
const SKELETON_BUFFER_BYTES = 64 * 1024;

interface OpenFile {
  fd: number;
  header: TarHeader;
  path: string;
  written: number;
}

function unsafe(path: string, reason: string): never {
  throw new PrtiqlError('E_UNSAFE_ENTRY', `tar entry ${JSON.stringify(path)}: ${reason}`);
}

/** Highest owner id chown can record: 2^32-1 is (uid_t)-1, which means "leave unchanged". */
const MAX_OWNER_ID = 2 ** 32 - 2;
/** Latest mtime recorded (2106-02-07); utimes turns a negative time into "now". */
const MAX_MTIME_SECONDS = 2 ** 32 - 1;
/** PATH_MAX, the terminating NUL included: longer symlink targets and paths cannot be created. */
const PATH_MAX = 4096;

/** Refuses metadata the store could not record exactly as the signed layer says. */
function checkRecordable(header: TarHeader, absolutePath: string): void {
  const refuse = (reason: string): never => {
    throw new PrtiqlError('E_BAD_INPUT', `tar entry ${JSON.stringify(header.path)}: ${reason}`);
  };
  for (const [what, id] of [['uid', header.uid], ['gid', header.gid]] as const) {
    if (!Number.isSafeInteger(id) || id < 0 || id > MAX_OWNER_ID) refuse(`${what} ${id} cannot be recorded (0 to ${MAX_OWNER_ID})`);
  }
  if (!Number.isFinite(header.mtime) || header.mtime < 0 || header.mtime > MAX_MTIME_SECONDS) {
    refuse(`mtime ${header.mtime} cannot be recorded (0 to ${MAX_MTIME_SECONDS} seconds)`);
  }
  if (Buffer.byteLength(absolutePath) >= PATH_MAX) refuse(`its path in the store would be longer than PATH_MAX (${PATH_MAX} bytes)`);
  if (header.type === 'symlink' && Buffer.byteLength(header.linkname) >= PATH_MAX) {
    refuse(`its symlink target is longer than PATH_MAX (${PATH_MAX} bytes)`);
  }
}

/**
 * Writes one layer's entries into `target.root`, refusing everything the OCI safe-extraction
 * rules forbid. Every node is created by this extraction in an empty directory and tracked,
 * so a path is only ever written below directories this layer made itself: a symlink from the
 * archive is never followed. Whiteouts stay literal empty files. Returns the layer metadata.
 */
export async function extractLayer(parts: AsyncIterable<SplitPart>, target: ExtractTarget, limits: ExtractLimits): Promise<LayerMeta> {
  const writeBack = target.writeBack ?? new WriteBack(target.root);
  const extractor = new LayerExtractor(target, limits, openSync(target.skeletonPath, 'wx', 0o600));
  try {
    for await (const part of parts) {
      if (part.kind === 'entry') extractor.begin(part.header, part.segment);
      else if (part.kind === 'data') await writeBack.wrote(extractor.write(part.bytes));
      else extractor.end(part.segment);
    }
    const meta = extractor.finish();
    await writeBack.settle();
    return meta;
  } finally {
    extractor.dispose();
  }
}

class LayerExtractor {
  /** Every path this layer created, '' being the root. */
  private readonly nodes = new Map<string, NodeKind>([['', 'implicit-directory']]);
  private readonly directoryHeaders = new Map<string, TarHeader>();
  private readonly meta = new LayerMetaBuilder();
  private readonly skeletonBuffer = Buffer.allocUnsafe(SKELETON_BUFFER_BYTES);
  private skeletonBuffered = 0;
  private file?: OpenFile;
  private entries = 0;
  private output = 0;
  private ended = false;

  /**
   * The owner every node this extraction creates gets: the process's, and the root's group
   * where the root is setgid (its subdirectories inherit that). chown is skipped for entries
   * that ask for exactly this owner.
   */
  private readonly creator: { uid: number; gid: number };

  constructor(
    private readonly target: ExtractTarget,
    private readonly limits: ExtractLimits,
    private skeleton: number | undefined,
  ) {
    this.creator = creatorOf(target.root);
  }

  /** `path` is already normalised (safeEntryPath): joining is concatenating. */
  private absolute(path: string): string {
    return path === '' ? this.target.root : `${this.target.root}/${path}`;
  }

  private ownedAsCreated(header: TarHeader): boolean {
    return header.uid === this.creator.uid && header.gid === this.creator.gid;
  }

  begin(header: TarHeader, segment: Buffer): void {
    this.closeFile();
    this.writeSkeleton(segment);
    if (++this.entries > this.limits.maxEntries) unsafe(header.path, `the layer has more than ${this.limits.maxEntries} entries`);
    const path = safeEntryPath(header.path, this.limits);
    checkRecordable(header, this.absolute(path));
    this.meta.addEntry(path, header.type, header.size, segment.length);
    if (header.type !== 'directory' && (path === '' || header.path.endsWith('/'))) unsafe(header.path, `a ${header.type} cannot have a directory name`);
    if (isWhiteout(path) && (header.type !== 'file' || header.size !== 0)) unsafe(header.path, 'a whiteout must be an empty regular file');
    if (path.split('/').slice(0, -1).some((name) => name.startsWith(WHITEOUT_PREFIX))) {
      unsafe(header.path, `only the last name of a path may be a whiteout (${WHITEOUT_PREFIX}...)`);
    }
    switch (header.type) {
      case 'directory':
        this.claim(path, true);
        return this.directory(path, header);
      case 'file':
        this.claim(path, false);
        return this.regularFile(path, header);
      case 'symlink':
        this.claim(path, false);
        return this.symlink(path, header);
      case 'hardlink':
        this.claim(path, false);
        return this.hardlink(path, header);
      default:
        unsafe(header.path, `${header.type} entries (device nodes and fifos) are not allowed`);
    }
  }

  /** Refuses duplicates and makes sure every parent is a directory this layer created. */
  private claim(path: string, isDirectory: boolean): void {
    const existing = this.nodes.get(path);
    if (existing !== undefined && !(isDirectory && existing === 'implicit-directory')) unsafe(path, 'appears twice in the layer');
    const components = path.split('/');
    let parent = '';
    for (const name of components.slice(0, -1)) {
      parent = parent ? `${parent}/${name}` : name;
      const kind = this.nodes.get(parent);
      if (kind === undefined) {
        mkdirSync(this.absolute(parent), 0o755);
        this.nodes.set(parent, 'implicit-directory');
      } else if (kind !== 'directory' && kind !== 'implicit-directory') {
        unsafe(path, `its parent ${parent} is a ${kind}, not a directory`);
      }
    }
  }

  private directory(path: string, header: TarHeader): void {
    if (!this.nodes.has(path)) mkdirSync(this.absolute(path), 0o700);
    this.nodes.set(path, 'directory');
    this.directoryHeaders.set(path, header);
  }

  private regularFile(path: string, header: TarHeader): void {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const fd = openSync(this.absolute(path), flags, 0o600);
    this.nodes.set(path, isWhiteout(path) ? 'whiteout' : 'file');
    this.file = { fd, header, path, written: 0 };
  }

  private symlink(path: string, header: TarHeader): void {
    if (header.linkname === '' || header.linkname.includes('\0')) unsafe(path, 'has an empty or invalid symlink target');
    const absolute = this.absolute(path);
    symlinkSync(header.linkname, absolute);
    this.nodes.set(path, 'symlink');
    if (!this.ownedAsCreated(header)) lchownSync(absolute, header.uid, header.gid);
    lutimesSync(absolute, header.mtime, header.mtime);
  }

  private hardlink(path: string, header: TarHeader): void {
    const target = safeEntryPath(header.linkname, this.limits, `hard link ${path} -> target`);
    if (this.nodes.get(target) !== 'file') {
      unsafe(path, `hard link to ${JSON.stringify(header.linkname)}, which is not a regular file earlier in this layer`);
    }
    try {
      linkSync(this.absolute(target), this.absolute(path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EMLINK') throw error;
      throw new PrtiqlError('E_DISK', `tar entry ${JSON.stringify(path)}: the store's file system allows no more hard links to ${JSON.stringify(target)}`);
    }
    this.nodes.set(path, 'hardlink');
  }

  /** Writes content of the open file; returns how many bytes went to the page cache. */
  write(bytes: Buffer): number {
    const file = this.file;
    if (!file) throw new PrtiqlError('E_BAD_INPUT', 'tar: content without an entry');
    this.output += bytes.length;
    if (this.output > this.limits.maxOutputBytes) unsafe(file.path, `the layer's content exceeds its signed ${this.limits.maxOutputBytes} bytes`);
    writeAllSync(file.fd, bytes);
    file.written += bytes.length;
    return bytes.length;
  }

  /**
   * Content first, then owner, then mode (chown clears setuid), then times. No fsync: the
   * layer is made durable by one syncfs before it is committed (installLayer), and a crash
   * before that leaves only staging, which the next update discards.
   */
  private closeFile(): void {
    const file = this.file;
    if (!file) return;
    this.file = undefined;
    try {
      if (file.written !== file.header.size) unsafe(file.path, `has ${file.written} of ${file.header.size} content bytes`);
      if (!this.ownedAsCreated(file.header)) fchownSync(file.fd, file.header.uid, file.header.gid);
      fchmodSync(file.fd, file.header.mode);
      futimesSync(file.fd, file.header.mtime, file.header.mtime);
    } finally {
      closeSync(file.fd);
    }
  }

  end(segment: Buffer): void {
    this.closeFile();
    this.writeSkeleton(segment);
    this.meta.addTail(segment.length);
    this.ended = true;
  }

  private writeSkeleton(bytes: Buffer): void {
    if (this.skeleton === undefined || this.ended) throw new PrtiqlError('E_BAD_INPUT', 'tar: data after the end of the archive');
    if (this.skeletonBuffered + bytes.length > SKELETON_BUFFER_BYTES) this.flushSkeleton();
    if (bytes.length >= SKELETON_BUFFER_BYTES) {
      writeAllSync(this.skeleton, bytes);
      return;
    }
    bytes.copy(this.skeletonBuffer, this.skeletonBuffered);
    this.skeletonBuffered += bytes.length;
  }

  private flushSkeleton(): void {
    writeAllSync(this.skeleton as number, this.skeletonBuffer.subarray(0, this.skeletonBuffered));
    this.skeletonBuffered = 0;
  }

  /** Directories last and deepest first, so that creating children does not touch their times (no fsync either, see closeFile). */
  finish(): LayerMeta {
    if (!this.ended) throw new PrtiqlError('E_BAD_INPUT', 'tar: archive has no end');
    const directories = [...this.nodes]
      .filter(([, kind]) => kind === 'directory' || kind === 'implicit-directory')
      .map(([path]) => path)
      .sort((a, b) => depth(b) - depth(a));
    for (const path of directories) this.settleDirectory(path, this.directoryHeaders.get(path));
    this.flushSkeleton();
    const skeleton = this.skeleton as number;
    this.skeleton = undefined;
    try {
      syncDescriptor(skeleton);
    } finally {
      closeSync(skeleton);
    }
    return this.meta.finish(this.target.diffID);
  }

  private settleDirectory(path: string, header: TarHeader | undefined): void {
    if (!header) return;
    const fd = openSync(this.absolute(path), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      if (!this.ownedAsCreated(header)) fchownSync(fd, header.uid, header.gid);
      fchmodSync(fd, header.mode);
      futimesSync(fd, header.mtime, header.mtime);
    } finally {
      closeSync(fd);
    }
  }

  dispose(): void {
    if (this.file) closeSync(this.file.fd);
    if (this.skeleton !== undefined) closeSync(this.skeleton);
  }
}

const SETGID = 0o2000;

function creatorOf(root: string): { uid: number; gid: number } {
  const info = statSync(root);
  return { uid: process.geteuid?.() ?? -1, gid: info.mode & SETGID ? info.gid : (process.getegid?.() ?? -1) };
}

function depth(path: string): number {
  return path === '' ? 0 : path.split('/').length;
}
