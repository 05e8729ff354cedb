import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tarStream from 'tar-stream';
import { PrtiqlError } from '../../../../shared/errors.js';
import type { TarEntrySource } from '../../../../shared/tar/deterministic-writer.js';
import { safeEntryPath } from '../../../../shared/tar/entry-path.js';
import { hardLinkGroup } from './hard-links.js';

/** Layer entries read from a tar file; file contents wait in a temporary directory until disposed. */
export interface SpooledTar {
  entries: TarEntrySource[];
  dispose(): Promise<void>;
}

/**
 * An archive path as a layer path, by the rules devices extract layers with
 * (shared/tar/entry-path.ts): `./a/b/` becomes `a/b`, `.` becomes ''. A leading '/' is
 * dropped first, as docker's ADD does: the archive's root is the layer's root.
 */
function layerPath(name: string, what: string): string {
  return safeEntryPath(name.replace(/^\/+/, ''), undefined, what);
}

async function isGzip(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

/**
 * Reads a tar or tar.gz so it can be re-written deterministically: owners, modes and link
 * targets are kept, mtimes dropped. Sorting needs random access to contents, so each file's
 * bytes are spooled to disk (under the OS temporary directory), never held in memory.
 * A later entry with the same path replaces an earlier one, as extraction would.
 */
export async function spoolTarFile(file: string): Promise<SpooledTar> {
  const spool = await mkdtemp(join(tmpdir(), 'prtiql-layer-'));
  const dispose = () => rm(spool, { recursive: true, force: true });
  const extract = tarStream.extract();
  try {
    const reading = (await isGzip(file))
      ? pipeline(createReadStream(file), createGunzip(), extract)
      : pipeline(createReadStream(file), extract);
    // A read or parse error also ends the loop in readEntries, which reports it.
    reading.catch(() => undefined);
    const entries = await readEntries(extract, spool, file);
    await reading;
    return { entries, dispose };
  } catch (error) {
    extract.destroy();
    await dispose();
    if (error instanceof PrtiqlError) throw error;
    throw new PrtiqlError('E_BAD_INPUT', `${file} is not a readable tar archive: ${(error as Error).message}`, { cause: error });
  }
}

async function readEntries(extract: tarStream.Extract, spool: string, file: string): Promise<TarEntrySource[]> {
  const byPath = new Map<string, TarEntrySource>();
  const hardLinks = new Map<string, string>();
  let spooled = 0;
  for await (const entry of extract) {
    const header = entry.header;
    const path = layerPath(header.name, `${file}: entry`);
    const base = { path, mode: (header.mode ?? 0) & 0o7777, uid: header.uid ?? 0, gid: header.gid ?? 0 };
    byPath.delete(path);
    hardLinks.delete(path);
    if (header.type === 'file' || header.type === 'contiguous-file') {
      const content = join(spool, String(spooled++));
      await pipeline(entry, createWriteStream(content));
      byPath.set(path, { ...base, type: 'file', size: header.size ?? 0, open: () => createReadStream(content) });
      continue;
    }
    entry.resume();
    if (path === '') continue;
    if (header.type === 'directory') byPath.set(path, { ...base, type: 'directory' });
    else if (header.type === 'symlink') byPath.set(path, { ...base, type: 'symlink', linkname: header.linkname ?? '' });
    else if (header.type === 'link') hardLinks.set(path, layerPath(header.linkname ?? '', `${file}: hard link ${path} -> target`));
    else throw new PrtiqlError('E_BAD_INPUT', `${file}: ${header.name} is a ${header.type}; layers hold only files, directories, symlinks and hard links`);
  }
  const linked = regroupHardLinks(byPath, hardLinks, file);
  return [...byPath.values(), ...linked];
}

/**
 * Hard links are re-pointed so that the content sits on the path sorting first (see
 * hardLinkGroup); their targets move out of `byPath` into the returned groups.
 */
function regroupHardLinks(byPath: Map<string, TarEntrySource>, links: Map<string, string>, file: string): TarEntrySource[] {
  const groups = new Map<string, string[]>();
  for (const [path, target] of links) {
    const content = byPath.get(target);
    if (content?.type !== 'file') {
      throw new PrtiqlError('E_BAD_INPUT', `${file}: hard link ${path} points to ${target}, which is not an earlier regular file`);
    }
    groups.set(target, [...(groups.get(target) ?? [target]), path]);
  }
  return [...groups].flatMap(([target, paths]) => {
    const content = byPath.get(target)!;
    byPath.delete(target);
    return hardLinkGroup(content, paths);
  });
}
