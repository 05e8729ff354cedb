import { isDeepStrictEqual } from 'node:util';
import { readCapped } from '../../shared/capped-read.js';
import { sha256Digest, type Digest } from '../../shared/digest.js';
import { PrtiqlError } from '../../shared/errors.js';
import { parseImageConfig, parseJson, parseManifest } from '../../shared/oci-json.js';
import type { ReleaseImage } from '../../shared/release.js';
import { blobPath } from '../../shared/store-layout.js';
import { retrying } from './fetch/retry.js';
import type { Source } from './fetch/source.js';

/** Fetches a manifest or config blob the release names, refusing it unless size and digest are the signed ones. */
export async function fetchDocument(source: Source, descriptor: { digest: Digest; size: number }, limit: number, what: string): Promise<Buffer> {
  if (descriptor.size > limit) {
    throw new PrtiqlError('E_TOO_LARGE', `${what} of ${descriptor.size} bytes exceeds the ${limit}-byte limit`);
  }
  const bytes = await retrying(source.retry, what, async () => {
    const fetched = await source.fetch(blobPath(descriptor.digest), { maxBytes: descriptor.size });
    return readCapped(fetched.body, descriptor.size, what);
  });
  if (bytes.length !== descriptor.size) {
    throw new PrtiqlError('E_SIZE_MISMATCH', `${what} ${descriptor.digest} has ${bytes.length} bytes, expected ${descriptor.size}`);
  }
  const actual = sha256Digest(bytes);
  if (actual !== descriptor.digest) throw new PrtiqlError('E_DIGEST_MISMATCH', `${what} has digest ${actual}, expected ${descriptor.digest}`);
  return bytes;
}

/**
 * The signed release and the image documents must describe the same layers, in order: a
 * manifest or config from another publication (mix-and-match) is refused before any layer
 * or delta blob is fetched.
 */
export function checkImageMatchesRelease(manifestBytes: Buffer, configBytes: Buffer, release: ReleaseImage): void {
  const manifestWhat = `manifest ${release.manifest.digest}`;
  const configWhat = `config ${release.config.digest}`;
  const manifest = parseManifest(parseJson(manifestBytes, manifestWhat), manifestWhat);
  const config = parseImageConfig(parseJson(configBytes, configWhat), configWhat);
  const mismatch = (what: string): never => {
    throw new PrtiqlError('E_MIX_AND_MATCH', `manifest ${release.manifest.digest}: ${what} does not match the release`);
  };
  if (manifest.config.digest !== release.config.digest || manifest.config.size !== release.config.size) mismatch('config descriptor');
  const listed = manifest.layers.map((layer) => ({ digest: layer.digest, size: layer.size }));
  const signed = release.layers.map((layer) => ({ digest: layer.blob.digest, size: layer.blob.size }));
  if (!isDeepStrictEqual(listed, signed)) mismatch('layer list');
  if (!isDeepStrictEqual(config.rootfs.diff_ids, release.layers.map((layer) => layer.diffID))) mismatch("config's diff_ids");
}
