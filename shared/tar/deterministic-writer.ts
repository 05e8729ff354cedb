import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { PrtiqlError } from '../errors.js';

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'link';

export interface TarEntrySource {
  /** Relative path with '/' separators, no leading '/' and no trailing '/'. */
  path: string;
  type: TarEntryType;
  /** Permission bits, including setuid/setgid/sticky. */
  mode: number;
  uid?: number;
  gid?: number;
  /** Content length of a regular file. */
  size?: number;
  /** Target of a symlink, or the in-archive path a hard link points to. */
  linkname?: string;
  /** Opens the content of a regular file; called once, when the entry is written. */
  open?: () => Readable | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

export interface DeterministicTarOptions {
  /** Seconds since the epoch written as every entry's mtime (SOURCE_DATE_EPOCH). */
  mtime: number;
}

/** Byte order of UTF-8 paths; a parent always sorts before its children. */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Writes a tar stream whose bytes depend only on the entries: sorted by path, one fixed
 * mtime, numeric owners with empty user and group names, no atime or ctime.
 */
export function deterministicTar(entries: Iterable<TarEntrySource>, options: DeterministicTarOptions): Readable {
  const sorted = [...entries].sort((a, b) => comparePaths(a.path, b.path));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].path === sorted[i - 1].path) {
      throw new PrtiqlError('E_BAD_INPUT', `the layer would contain ${sorted[i].path} twice`);
    }
  }
  const pack = tarStream.pack();
  const mtime = new Date(options.mtime * 1000);

  const writeAll = async () => {
    for (const entry of sorted) {
      if (!entry.path || entry.path.startsWith('/') || entry.path.endsWith('/')) {
        throw new PrtiqlError('E_BAD_INPUT', `invalid path in layer: ${JSON.stringify(entry.path)}`);
      }
      const header: tarStream.Header = {
        name: entry.type === 'directory' ? `${entry.path}/` : entry.path,
        type: entry.type,
        mode: entry.mode & 0o7777,
        uid: entry.uid ?? 0,
        gid: entry.gid ?? 0,
        uname: '',
        gname: '',
        mtime,
        devmajor: 0,
        devminor: 0,
        size: entry.type === 'file' ? (entry.size ?? 0) : 0,
        linkname: entry.linkname ?? '',
      };
      if (entry.type === 'file' && header.size! > 0) {
        if (!entry.open) throw new PrtiqlError('E_BAD_INPUT', `no content for ${entry.path}`);
        const sink = pack.entry(header);
        await pipeline(Readable.from(entry.open()), sink as unknown as NodeJS.WritableStream);
      } else {
        await new Promise<void>((resolve, reject) => {
          pack.entry(header, Buffer.alloc(0), (error) => (error ? reject(error) : resolve()));
        });
      }
    }
    pack.finalize();
  };
  writeAll().catch((error: unknown) => pack.destroy(error as Error));
  return Readable.from(pack);
}
