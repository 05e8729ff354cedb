import { sha256Digest, type Digest } from '../../../../shared/digest.js';
import { MediaType, type ImageManifest } from '../../../../shared/oci.js';
import type { ReleaseDescriptor } from '../../../../shared/release.js';
import type { Image } from '../image/image.js';
import { describeLayerBlob, isGzipLayer, type GzipLayerBlob } from './describe-layer-blob.js';

export interface ManifestBlob {
  mediaType: string;
  digest: Digest;
  bytes: Buffer;
}

/**
 * The manifest published beside the layer blobs. When every layer already was gzip it is
 * the image's own manifest, byte for byte; otherwise it is rewritten to name the gzip
 * blobs, so that the store always holds a complete image any OCI client can read.
 */
export function storeManifest(image: Image, layers: readonly GzipLayerBlob[]): ManifestBlob {
  const mediaType = image.manifest.mediaType ?? MediaType.imageManifest;
  const unchanged = image.manifest.layers.every((descriptor, i) => descriptor.digest === layers[i].blob.digest);
  if (unchanged) return { mediaType, digest: image.manifestDigest, bytes: image.manifestBytes };
  const layerMediaType = mediaType === MediaType.dockerManifest ? MediaType.dockerLayerGzip : MediaType.layerGzip;
  const manifest: ImageManifest = {
    ...image.manifest,
    layers: image.manifest.layers.map((descriptor, i) => ({
      ...descriptor,
      mediaType: layerMediaType,
      digest: layers[i].blob.digest,
      size: layers[i].blob.size,
    })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  return { mediaType, digest: sha256Digest(bytes), bytes };
}

/**
 * The manifest `storeManifest` gives this image once released: what a device records as the
 * image it runs. Free for gzip images; other images' layers are streamed once to find it.
 */
export async function publishedManifest(image: Image): Promise<ReleaseDescriptor> {
  let manifest: ManifestBlob = { mediaType: image.manifest.mediaType ?? MediaType.imageManifest, digest: image.manifestDigest, bytes: image.manifestBytes };
  if (!image.layers.every(isGzipLayer)) {
    const layers: GzipLayerBlob[] = [];
    for (const [i, layer] of image.layers.entries()) layers.push(await describeLayerBlob(layer, `layer ${i + 1}`, () => undefined));
    manifest = storeManifest(image, layers);
  }
  return { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length };
}
