import type { Readable } from 'node:stream';
import type { Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { MAX_DOCUMENT_BYTES } from '../../../../shared/limits.js';
import { configPlatform, parseIndex, parseJson } from '../../../../shared/oci-json.js';
import { MediaType, type Descriptor, type Platform } from '../../../../shared/oci.js';
import { countProgress, silentProgress, type ProgressFactory } from '../../progress.js';
import { assembleImage } from './assemble-image.js';
import type { BlobCounts, Image, Layer, WrittenImage } from './image.js';
import { uncompressedLayerStream } from './layer-stream.js';
import { INDEX_TYPES, MANIFEST_TYPES, selectManifest } from './manifest-selection.js';
import { OciLayout } from './oci-layout.js';
import { DEFAULT_TAG, formatImageReference, type OciLayoutReference } from './reference.js';

class LayoutLayer implements Layer {
  constructor(
    private readonly layout: OciLayout,
    readonly descriptor: Descriptor,
    readonly diffID: Digest,
  ) {}

  openCompressed(): Promise<Readable> {
    return this.layout.openBlob(this.descriptor);
  }

  async openUncompressed(): Promise<Readable> {
    return uncompressedLayerStream(this.descriptor, this.diffID, await this.openCompressed());
  }
}

/**
 * Opens one single-platform image of an OCI layout. The manifest and config are verified
 * against their digests now; layer bytes are verified as they are streamed.
 */
export async function openLayoutImage(reference: OciLayoutReference, platform: Platform | undefined): Promise<Image> {
  const layout = await OciLayout.open(reference.path);
  const tag = reference.tag ?? DEFAULT_TAG;
  let descriptor = await layout.resolveTag(tag);
  if (INDEX_TYPES.has(descriptor.mediaType)) {
    const what = `image index ${descriptor.digest}`;
    descriptor = selectManifest(parseIndex(parseJson(await layout.readBlob(descriptor, MAX_DOCUMENT_BYTES), what), what), platform, what);
  }
  if (!MANIFEST_TYPES.has(descriptor.mediaType)) {
    throw new PrtiqlError('E_NOT_AN_IMAGE', `${reference.path} tag ${tag} is a ${descriptor.mediaType}, not an image manifest`);
  }
  return assembleImage({
    manifestBytes: await layout.readBlob(descriptor, MAX_DOCUMENT_BYTES),
    manifestWhat: `manifest ${descriptor.digest}`,
    readConfig: (config, limit) => layout.readBlob(config, limit),
    layer: (layer, diffID) => new LayoutLayer(layout, layer, diffID),
  });
}

function checkDigest(written: Descriptor, expected: Digest, what: string): void {
  if (written.digest !== expected) {
    throw new PrtiqlError('E_DIGEST_MISMATCH', `${what} has digest ${written.digest}, expected ${expected}`);
  }
}

/**
 * Copies an image into an OCI layout and tags it: layer blobs the layout lacks, then the
 * config, then the manifest byte for byte (so its digest is kept), then index.json.
 */
export async function writeLayoutImage(image: Image, reference: OciLayoutReference, progress: ProgressFactory = silentProgress): Promise<WrittenImage> {
  const layout = await OciLayout.openOrCreate(reference.path);
  const blobs: BlobCounts = { written: 0, skipped: 0, mounted: 0 };
  for (const [i, layer] of image.layers.entries()) {
    if (await layout.hasBlob(layer.descriptor.digest)) {
      blobs.skipped++;
      continue;
    }
    const bar = progress(`Copying layer ${i + 1}/${image.layers.length}`, layer.descriptor.size);
    const written = await layout.writeBlob(countProgress(await layer.openCompressed(), bar), layer.descriptor.mediaType);
    checkDigest(written, layer.descriptor.digest, `layer ${i + 1}`);
    bar.finish(`${written.digest} (${written.size} bytes)`);
    blobs.written++;
  }
  if (await layout.hasBlob(image.manifest.config.digest)) {
    blobs.skipped++;
  } else {
    checkDigest(await layout.writeBlob(image.configBytes, image.manifest.config.mediaType), image.manifest.config.digest, 'the image config');
    blobs.written++;
  }
  const manifest = await layout.writeBlob(image.manifestBytes, image.manifest.mediaType ?? MediaType.imageManifest);
  const tag = reference.tag ?? DEFAULT_TAG;
  await layout.setTag(tag, { ...manifest, platform: configPlatform(image.config) });
  return { reference: formatImageReference({ ...reference, tag }), manifestDigest: manifest.digest, blobs };
}
