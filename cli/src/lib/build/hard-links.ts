import { comparePaths, type TarEntrySource } from '../../../../shared/tar/deterministic-writer.js';

/**
 * Turns a group of paths that share one file into tar entries: the path that sorts first
 * carries the content (a tar hard link may only point back to an earlier entry), the others
 * become hard links to it.
 */
export function hardLinkGroup(content: TarEntrySource, paths: readonly string[]): TarEntrySource[] {
  const [first, ...others] = [...paths].sort(comparePaths);
  return [
    { ...content, path: first, type: 'file' },
    ...others.map((path): TarEntrySource => ({ path, type: 'link', mode: content.mode, uid: content.uid, gid: content.gid, linkname: first })),
  ];
}
