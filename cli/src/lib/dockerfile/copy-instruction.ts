import { join, posix } from 'node:path';
import { lstatIfExists } from '../../../../filesystem/layer-view.js';
import { resolveUser } from '../../../../filesystem/runtime-spec.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { MAX_ACCOUNTS_FILE_BYTES } from '../../../../shared/limits.js';
import type { TarEntrySource } from '../../../../shared/tar/deterministic-writer.js';
import type { Owner } from '../build/directory-entries.js';
import { spoolTarFile } from '../build/tar-file-entries.js';
import { isPattern, matchSources, sourceEntries, type MatchedSource, type SourceTree } from './copy-sources.js';
import { readRootFile, resolveInRoot } from './root-path.js';
import { isTarArchive } from './tar-archive-detection.js';

const URL_SOURCE = /^(?:https?|git|ssh):\/\/|^git@/;

export interface CopyRequest {
  /** ADD: local tar archives are unpacked into the destination. */
  add: boolean;
  /** The source arguments, expanded. */
  sources: string[];
  /** The destination, expanded and made absolute against WORKDIR; a trailing '/' kept. */
  destination: string;
  tree: SourceTree;
  /** The root filesystem being built, for the destination and --chown names. */
  root: string;
  chown?: string;
  chmod?: string;
}

/** The entries of one COPY/ADD layer; dispose() removes spooled archive contents. */
export interface CopyLayer {
  entries: TarEntrySource[];
  dispose(): Promise<void>;
}

/**
 * `--chown=user[:group]`, names looked up in the destination's /etc/passwd and /etc/group; as
 * docker does, a user without a group gets the group of the same number.
 */
export async function chownOwner(spec: string, root: string): Promise<Owner> {
  const accounts = { passwd: await readRootFile(root, '/etc/passwd', MAX_ACCOUNTS_FILE_BYTES), group: await readRootFile(root, '/etc/group', MAX_ACCOUNTS_FILE_BYTES) };
  try {
    const { uid, gid } = resolveUser(spec, accounts).processUser;
    return spec.includes(':') ? { uid, gid } : { uid, gid: uid };
  } catch (error) {
    throw new PrtiqlError('E_BAD_INPUT', `--chown=${spec}: ${(error as Error).message.replace(/^image config User/, 'it')}`, { cause: error });
  }
}

export function parseChmod(value: string): number {
  if (!/^[0-7]{3,4}$/.test(value)) throw new PrtiqlError('E_BAD_INPUT', `--chmod=${value} is not an octal mode such as 0755`);
  return Number.parseInt(value, 8);
}

function ancestorsAndSelf(path: string): string[] {
  if (path === '') return [];
  const parts = path.split('/');
  return parts.map((_, index) => parts.slice(0, index + 1).join('/'));
}

/**
 * Entries for the directories on the way to `directory` (relative to `root`, symlinks already
 * resolved): existing ones keep their mode and owner, missing ones are created 0755 with
 * `owner`. Without them a layer's implicit parents would override the directories below.
 */
export async function directoryChain(root: string, directory: string, owner: Owner): Promise<TarEntrySource[]> {
  const entries: TarEntrySource[] = [];
  for (const path of ancestorsAndSelf(directory)) {
    const stats = await lstatIfExists(join(root, path));
    if (stats && !stats.isDirectory()) throw new PrtiqlError('E_BAD_INPUT', `/${path} exists and is not a directory`);
    entries.push(stats
      ? { path, type: 'directory', mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid }
      : { path, type: 'directory', mode: 0o755, uid: owner.uid, gid: owner.gid });
  }
  return entries;
}

function relocate(entries: TarEntrySource[], prefix: string): TarEntrySource[] {
  const under = (path: string) => (prefix === '' ? path : `${prefix}/${path}`);
  return entries.map((entry) => ({ ...entry, path: under(entry.path), ...(entry.type === 'link' && { linkname: under(entry.linkname!) }) }));
}

function override(entries: TarEntrySource[], owner: Owner | undefined, mode: number | undefined): TarEntrySource[] {
  return entries.map((entry) => ({
    ...entry,
    ...(owner && { uid: owner.uid, gid: owner.gid }),
    ...(mode !== undefined && entry.type !== 'symlink' && { mode }),
  }));
}

/**
 * Plans the layer of a COPY or ADD as docker does: a directory source copies its contents, a
 * file lands in the destination directory (a destination ending in '/', an existing
 * directory, or any destination of several sources or a pattern) or becomes the destination
 * file; ADD unpacks local tar archives (plain or gzip) into the destination and refuses URLs.
 * Owners come from --chown, else from the source tree; modes from --chmod, else the source.
 */
export async function planCopy(request: CopyRequest): Promise<CopyLayer> {
  const { tree, root } = request;
  for (const source of request.sources) {
    if (URL_SOURCE.test(source)) {
      throw new PrtiqlError('E_BAD_INPUT', `${request.add ? 'ADD' : 'COPY'} of the URL ${source} is not supported: download it into the build context and copy the file`);
    }
  }
  const owner = request.chown === undefined ? undefined : await chownOwner(request.chown, root);
  const mode = request.chmod === undefined ? undefined : parseChmod(request.chmod);
  const matched: MatchedSource[] = [];
  for (const source of request.sources) matched.push(...(await matchSources(tree, source)));
  const patterns = request.sources.some(isPattern);
  const destinationPath = await resolveInRoot(root, request.destination);
  const existingDirectory = (await lstatIfExists(join(root, destinationPath)))?.isDirectory() ?? false;
  const namedDirectory = request.destination.endsWith('/') || existingDirectory;
  if (request.sources.length > 1 && !namedDirectory) {
    throw new PrtiqlError('E_BAD_INPUT', `with several sources the destination must be a directory ending in /: ${request.destination}`);
  }
  const intoDirectory = namedDirectory || patterns || matched.every((source) => source.stats.isDirectory());
  const directory = intoDirectory ? destinationPath : posix.dirname(destinationPath).replace(/^\.$/, '');
  const created = owner ?? { uid: 0, gid: 0 };

  const disposers: (() => Promise<void>)[] = [];
  const dispose = async () => {
    for (const disposeOne of disposers) await disposeOne();
  };
  try {
    const byPath = new Map<string, TarEntrySource>();
    for (const entry of await directoryChain(root, directory, created)) byPath.set(entry.path, entry);
    for (const source of matched) {
      let entries: TarEntrySource[];
      if (request.add && source.stats.isFile() && (await isTarArchive(join(tree.root, source.path)))) {
        const spooled = await spoolTarFile(join(tree.root, source.path));
        disposers.push(spooled.dispose);
        entries = relocate(spooled.entries, destinationPath);
        for (const entry of await directoryChain(root, destinationPath, created)) byPath.set(entry.path, entry);
      } else {
        const name = intoDirectory ? source.name : posix.basename(destinationPath);
        entries = relocate(await sourceEntries(tree, source, name), directory);
      }
      for (const entry of override(entries, owner, mode)) byPath.set(entry.path, entry);
    }
    return { entries: [...byPath.values()], dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}
