import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Hex } from '../../shared/digest.js';

export interface ListedNode {
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  nlink: number;
  /** A file's content, base64; with `hashContent`, its sha256 (hex) instead. */
  content?: string;
  sha256?: string;
  linkname?: string;
}

/**
 * Every node under `root` ('.' for root itself) with its inode, times and content, sorted
 * by path: two equal listings mean nothing was created, replaced, written or touched. Blocking
 * calls: a listing has nothing else to wait for, and a promise per file costs more than the call.
 */
export async function listTree(root: string, options: { hashContent?: boolean } = {}): Promise<ListedNode[]> {
  const nodes: ListedNode[] = [];
  const visit = (path: string): void => {
    const absolute = join(root, path);
    const info = lstatSync(absolute);
    const type = info.isFile() ? 'file' : info.isDirectory() ? 'directory' : info.isSymbolicLink() ? 'symlink' : 'other';
    nodes.push({
      path,
      type,
      mode: info.mode & 0o7777,
      uid: info.uid,
      gid: info.gid,
      size: info.size,
      mtimeMs: info.mtimeMs,
      ctimeMs: info.ctimeMs,
      ino: info.ino,
      nlink: info.nlink,
      ...(type === 'file' && (options.hashContent ? { sha256: sha256Hex(readFileSync(absolute)) } : { content: readFileSync(absolute).toString('base64') })),
      ...(type === 'symlink' && { linkname: readlinkSync(absolute) }),
    });
    if (type === 'directory') {
      for (const name of readdirSync(absolute).sort()) visit(path === '.' ? name : `${path}/${name}`);
    }
  };
  visit('.');
  return nodes;
}
