import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { verifiedChunks } from '../shared/chunks.js';
import { digestHex, type Digest } from '../shared/digest.js';
import { PrtiqlError } from '../shared/errors.js';
import { MediaType } from '../shared/oci.js';
import type { ReleaseDelta, ReleaseLayer } from '../shared/release.js';
import { decodeDelta } from '../shared/delta/decoder.js';
import { StoreBasisReader } from './delta-basis.js';
import type { Source } from './source.js';
import type { Store } from './store.js';

export function blobPath(digest: Digest): string {
  return `blobs/sha256/${digestHex(digest)}`;
}

/**
 * Rebuilds a layer's tar from a delta against layers already on the device. Delta bytes
 * reach the decoder only chunk-verified; the caller checks the output against the diffID.
 */
export async function* deltaLayerTar(source: Source, store: Store, delta: ReleaseDelta): AsyncGenerator<Uint8Array> {
  const what = `delta ${delta.blob.digest} for layer ${delta.target}`;
  const fetched = await source.fetch(blobPath(delta.blob.digest), { maxBytes: delta.blob.size });
  const verified = verifiedChunks(fetched.body, delta.blob, delta.blob.size, what);
  yield* decodeDelta(verified, (header) => {
    if (header.target.diffID !== delta.target) {
      throw new PrtiqlError('E_DELTA_MALFORMED', `${what} rebuilds ${header.target.diffID} instead`);
    }
    return StoreBasisReader.open(store, header);
  });
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
