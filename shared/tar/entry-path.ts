import { PrtiqlError } from '../errors.js';

export interface EntryPathLimits {
  maxDepth: number;
  maxPathBytes: number;
}

export const DEFAULT_ENTRY_PATH_LIMITS: EntryPathLimits = { maxDepth: 128, maxPathBytes: 4096 };

/** Longest file name component Linux file systems accept. */
const MAX_NAME_BYTES = 255;

function unsafe(what: string, path: string, reason: string): never {
  throw new PrtiqlError('E_UNSAFE_ENTRY', `${what} ${JSON.stringify(path)}: ${reason}`);
}

/**
 * The relative path an archive path names inside the layer root: '.' and empty components
 * are dropped ("./a//b/" is "a/b"), the root itself is "". Absolute paths, '..' components
 * and NUL bytes are refused, as are paths too deep or too long to be real. `what` names the
 * path in errors.
 */
export function safeEntryPath(raw: string, limits: EntryPathLimits = DEFAULT_ENTRY_PATH_LIMITS, what = 'tar entry'): string {
  if (raw.includes('\0')) unsafe(what, raw, 'contains a NUL byte');
  if (raw.startsWith('/')) unsafe(what, raw, 'is absolute');
  if (Buffer.byteLength(raw) > limits.maxPathBytes) unsafe(what, raw, `is longer than ${limits.maxPathBytes} bytes`);
  const components = raw.split('/').filter((component) => component !== '' && component !== '.');
  if (components.includes('..')) unsafe(what, raw, "contains '..'");
  if (components.length > limits.maxDepth) unsafe(what, raw, `is deeper than ${limits.maxDepth} levels`);
  if (components.some((component) => Buffer.byteLength(component) > MAX_NAME_BYTES)) {
    unsafe(what, raw, `has a name longer than ${MAX_NAME_BYTES} bytes`);
  }
  return components.join('/');
}
