import { open } from 'node:fs/promises';

const SNIFF_BYTES = 4096;

/**
 * What `prtiql build --file` names: a JSON build spec when the name ends in `.json` or the
 * first non-blank character is `{` (no Dockerfile starts with one), else a Dockerfile. A
 * missing file counts as a Dockerfile unless named *.json; reading it then reports it missing.
 */
export async function buildFileKind(path: string): Promise<'spec' | 'dockerfile'> {
  if (path.toLowerCase().endsWith('.json')) return 'spec';
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return 'dockerfile';
  }
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(SNIFF_BYTES), 0, SNIFF_BYTES, 0);
    return buffer.subarray(0, bytesRead).toString('utf8').trimStart().startsWith('{') ? 'spec' : 'dockerfile';
  } finally {
    await handle.close();
  }
}
