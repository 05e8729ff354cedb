import { pipeline, type Readable } from 'node:stream';
import { readCapped } from '../../../../shared/capped-read.js';
import type { Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import type { Descriptor, ImageManifest } from '../../../../shared/oci.js';
import { parseJson, parseManifest } from '../../../../shared/oci-json.js';
import type { ReleaseDescriptor } from '../../../../shared/release.js';
import { VerifyingStream } from '../../../../shared/verify-stream.js';
import type { Image, Layer } from '../image/image.js';
import { uncompressedLayerStream } from '../image/layer-stream.js';
import { assembleImage } from '../image/assemble-image.js';
import type { ArtifactStore } from './artifact-store.js';
import { MAX_DOCUMENT_BYTES } from '../../../../shared/limits.js';

/** A store blob as a stream that fails unless its bytes match the descriptor. */
async function openVerifiedBlob(store: ArtifactStore, descriptor: Pick<Descriptor, 'digest' | 'size'>, what: string): Promise<Readable> {
  return pipeline(await store.getBlob(descriptor.digest), new VerifyingStream(descriptor, what), () => undefined);
}

async function readVerifiedBlob(store: ArtifactStore, descriptor: Pick<Descriptor, 'digest' | 'size'>, limit: number, what: string): Promise<Buffer> {
  if (descriptor.size > limit) throw new PrtiqlError('E_TOO_LARGE', `${what} is larger than the ${limit}-byte limit`);
  return readCapped(await openVerifiedBlob(store, descriptor, what), limit, what);
}

class StoreLayer implements Layer {
  constructor(
    private readonly store: ArtifactStore,
    readonly descriptor: Descriptor,
    readonly diffID: Digest,
  ) {}

  openCompressed(): Promise<Readable> {
    return openVerifiedBlob(this.store, this.descriptor, `layer ${this.descriptor.digest} in ${this.store.location}`);
  }

  async openUncompressed(): Promise<Readable> {
    return uncompressedLayerStream(this.descriptor, this.diffID, await this.openCompressed());
  }
}

/**
 * An image a release published, read back from the store by its manifest: the manifest and
 * config are fetched and verified now, layer blobs verified as they stream. Earlier releases
 * of a channel serve as delta bases this way, without their original image references.
 */
export async function openStoreImage(store: ArtifactStore, manifest: ReleaseDescriptor): Promise<Image> {
  const where = ` in ${store.location}`;
  const manifestWhat = `manifest ${manifest.digest}${where}`;
  return assembleImage({
    manifestBytes: await readVerifiedBlob(store, manifest, MAX_DOCUMENT_BYTES, manifestWhat),
    manifestWhat,
    where,
    mediaType: manifest.mediaType,
    readConfig: (config, limit, what) => readVerifiedBlob(store, config, limit, what),
    layer: (layer, diffID) => new StoreLayer(store, layer, diffID),
  });
}

/** The manifest of a released image, read from the store and verified against its descriptor. */
export async function readStoredManifest(store: ArtifactStore, manifest: ReleaseDescriptor): Promise<ImageManifest> {
  const what = `manifest ${manifest.digest} in ${store.location}`;
  return parseManifest(parseJson(await readVerifiedBlob(store, manifest, MAX_DOCUMENT_BYTES, what), what), what);
}
