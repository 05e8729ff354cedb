import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { verifiedChunks } from '../shared/chunks.js';
import { digestHex, type Digest } from '../shared/digest.js';
import { PrtiqlError } from '../shared/errors.js';
import { MediaType } from '../shared/oci.js';
import type { Release, ReleaseLayer } from '../shared/release.js';
import type { Logger } from './log.js';
import type { Source } from './source.js';
import type { Store } from './store.js';

export function blobPath(digest: Digest): string {
  return `blobs/sha256/${digestHex(digest)}`;
}

export interface LayerTarContext {
  source: Source;
  release: Release;
  store: Store;
  log: Logger;
}

/**
 * The uncompressed tar bytes of one target layer. This is the one place that decides how a
 * layer is obtained; today always the full blob, later a delta against layers on the
 * device. The caller checks the result against the signed diffID and size.
 */
export function obtainLayerTar(context: LayerTarContext, layer: ReleaseLayer): AsyncIterable<Uint8Array> {
  context.log.info('layer.fetch', { diffID: layer.diffID, blob: layer.blob.digest, bytes: layer.blob.size, via: 'full' });
  return fullLayerTar(context.source, layer);
}

/** Streams the layer's compressed blob; no byte reaches the decompressor before its chunk is verified. */
export async function* fullLayerTar(source: Source, layer: ReleaseLayer): AsyncGenerator<Uint8Array> {
  const what = `layer ${layer.diffID} blob ${layer.blob.digest}`;
  const fetched = await source.fetch(blobPath(layer.blob.digest), { maxBytes: layer.blob.size });
  const verified = verifiedChunks(fetched.body, layer.blob, layer.blob.size, what);
  switch (layer.blob.mediaType) {
    case MediaType.layerTar:
      yield* verified;
      return;
    case MediaType.layerGzip:
    case MediaType.dockerLayerGzip:
      yield* gunzip(verified, what);
      return;
    default:
      throw new PrtiqlError('E_BAD_INPUT', `${what} has unsupported media type ${layer.blob.mediaType}`);
  }
}

async function* gunzip(compressed: AsyncIterable<Uint8Array>, what: string): AsyncGenerator<Uint8Array> {
  const decompressor = createGunzip({ chunkSize: 64 * 1024 });
  pipeline(Readable.from(compressed, { objectMode: false, highWaterMark: 1 }), decompressor, () => undefined);
  try {
    yield* decompressor;
  } catch (error) {
    if (error instanceof PrtiqlError) throw error;
    throw new PrtiqlError('E_BAD_INPUT', `${what} is not valid gzip: ${(error as Error).message}`);
  }
}
