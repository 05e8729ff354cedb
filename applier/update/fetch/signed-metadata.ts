import { readCapped } from '../../../shared/capped-read.js';
import { retrying } from './retry.js';
import type { Source } from './source.js';

/**
 * Downloads a small signed document (a root, a timestamp, a release) whole. A source that
 * sends more than `maxBytes`, however it announces the size (or endlessly), is E_TOO_LARGE as
 * soon as the limit is passed; a missing document is E_NOT_FOUND. Transient failures are retried.
 */
export async function fetchSignedDocument(source: Source, path: string, maxBytes: number, what: string): Promise<Buffer> {
  return retrying(source.retry, what, async () => {
    const fetched = await source.fetch(path, { maxBytes });
    return readCapped(fetched.body, maxBytes, what);
  });
}
