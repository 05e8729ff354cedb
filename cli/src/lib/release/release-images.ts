import { sha256Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { configPlatform } from '../../../../shared/oci-json.js';
import { MediaType, type ImageIndex, type Platform } from '../../../../shared/oci.js';
import { formatPlatform } from '../../../../shared/platform.js';
import type { ReleaseDescriptor } from '../../../../shared/release.js';
import type { ProgressFactory } from '../../progress.js';
import type { Image } from '../image/image.js';
import { describeLayerBlob, type GzipLayerBlob } from './describe-layer-blob.js';
import { storeManifest, type ManifestBlob } from './store-manifest.js';

/** One image of a release, as it will be stored: gzip layers described, manifest final. */
export interface DescribedImage {
  image: Image;
  platform: Platform;
  layers: GzipLayerBlob[];
  manifest: ManifestBlob;
}

export interface IndexBlob {
  descriptor: ReleaseDescriptor;
  bytes: Buffer;
}

export function descriptorOf(blob: ManifestBlob): ReleaseDescriptor {
  return { mediaType: blob.mediaType, digest: blob.digest, size: blob.bytes.length };
}

/** Streams every layer once (checking diffIDs) and makes the manifest the store will hold. */
export async function describeImage(image: Image, progress: ProgressFactory, label: string): Promise<DescribedImage> {
  const layers: GzipLayerBlob[] = [];
  for (const [i, layer] of image.layers.entries()) {
    const bar = progress(`Checking ${label}layer ${i + 1}/${image.layers.length}`, layer.descriptor.size);
    const blob = await describeLayerBlob(layer, `${label}layer ${i + 1} (${layer.descriptor.digest})`, (count) => bar.advance(count));
    bar.finish(`${blob.uncompressedSize} bytes, diffID verified`);
    layers.push(blob);
  }
  return { image, platform: configPlatform(image.config), layers, manifest: storeManifest(image, layers) };
}

/** Several images must be for distinct platforms. */
export function checkDistinctPlatforms(images: readonly Image[]): void {
  const names = images.map((image) => formatPlatform(configPlatform(image.config)));
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated !== undefined) throw new PrtiqlError('E_BAD_INPUT', `the images to release include two for ${repeated}; a release holds one image per platform`);
}

/** The OCI index of a multi-platform release: each stored manifest with its platform. */
export function releaseIndex(images: readonly DescribedImage[]): IndexBlob {
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaType.imageIndex,
    manifests: images.map((described) => ({ ...descriptorOf(described.manifest), platform: described.platform })),
  };
  const bytes = Buffer.from(JSON.stringify(index));
  return { descriptor: { mediaType: MediaType.imageIndex, digest: sha256Digest(bytes), size: bytes.length }, bytes };
}
