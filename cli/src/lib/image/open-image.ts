import { pipeline, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { sha256Digest, type Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { MediaType, type Descriptor, type ImageConfig, type ImageManifest, type Platform } from '../../../../shared/oci.js';
import { CountingStream } from './counting-stream.js';
import type { Image, Layer } from './image.js';
import { parseImageConfig, parseIndex, parseJson, parseManifest } from './oci-json.js';
import { OciLayout } from './oci-layout.js';
import { DEFAULT_TAG, formatImageReference, parseImageReference, type ImageReference } from './reference.js';

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.imageIndex, MediaType.dockerManifestList]);
const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaType.imageManifest, MediaType.dockerManifest]);
const GZIP_LAYER_TYPES: ReadonlySet<string> = new Set([MediaType.layerGzip, MediaType.dockerLayerGzip]);
const TAR_LAYER_TYPES: ReadonlySet<string> = new Set([MediaType.layerTar]);

export interface OpenImageOptions {
  /** Which image to take when the tag names a multi-platform index with several images. */
  platform?: Platform;
}

/** Fails at the end of the stream unless the bytes that passed hash to `expected`. */
class DigestCheck extends CountingStream {
  constructor(
    private readonly expected: Digest,
    private readonly what: string,
  ) {
    super();
  }

  override _flush(callback: TransformCallback): void {
    const actual = this.counter.digest();
    if (actual !== this.expected) {
      callback(new PrtiqlError('E_DIGEST_MISMATCH', `${this.what} has diffID ${actual}, expected ${this.expected}`));
      return;
    }
    callback();
  }
}

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
    const what = `layer ${this.descriptor.digest}`;
    const gzip = GZIP_LAYER_TYPES.has(this.descriptor.mediaType);
    if (!gzip && !TAR_LAYER_TYPES.has(this.descriptor.mediaType)) {
      throw new PrtiqlError('E_BAD_INPUT', `${what} has unsupported media type ${this.descriptor.mediaType} (gzip or plain tar only)`);
    }
    const blob = await this.openCompressed();
    const check = new DigestCheck(this.diffID, what);
    return gzip ? pipeline(blob, createGunzip(), check, () => undefined) : pipeline(blob, check, () => undefined);
  }
}

class LayoutImage implements Image {
  readonly manifestDigest: Digest;
  readonly layers: readonly Layer[];

  constructor(
    layout: OciLayout,
    readonly manifestBytes: Buffer,
    readonly manifest: ImageManifest,
    readonly configBytes: Buffer,
    readonly config: ImageConfig,
  ) {
    this.manifestDigest = sha256Digest(manifestBytes);
    this.layers = manifest.layers.map((descriptor, i) => new LayoutLayer(layout, descriptor, config.rootfs.diff_ids[i]));
  }
}

function describePlatform(platform: Platform | undefined): string {
  if (!platform) return 'unknown';
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

async function selectFromIndex(layout: OciLayout, descriptor: Descriptor, platform: Platform | undefined): Promise<Descriptor> {
  const what = `image index ${descriptor.digest}`;
  const index = parseIndex(parseJson(await layout.readBlob(descriptor, MAX_MANIFEST_BYTES), what), what);
  const images = index.manifests.filter((entry) => MANIFEST_TYPES.has(entry.mediaType));
  const matching = platform
    ? images.filter(
        (entry) =>
          entry.platform?.os === platform.os &&
          entry.platform.architecture === platform.architecture &&
          (platform.variant === undefined || entry.platform.variant === platform.variant),
      )
    : images;
  if (matching.length === 1) return matching[0];
  const available = images.map((entry) => describePlatform(entry.platform)).join(', ') || 'none';
  const problem = matching.length === 0 ? `has no image for ${describePlatform(platform)}` : 'holds several images; choose a platform';
  throw new PrtiqlError('E_NOT_FOUND', `${what} ${problem} (platforms: ${available})`);
}

/**
 * Opens one single-platform image. The manifest and config are verified against their
 * digests now; layer bytes are verified as they are streamed.
 */
export async function openImage(reference: string | ImageReference, options: OpenImageOptions = {}): Promise<Image> {
  const ref = typeof reference === 'string' ? parseImageReference(reference) : reference;
  if (ref.transport !== 'oci') throw new PrtiqlError('E_BAD_REFERENCE', `openImage reads OCI layouts (oci:<path>[:<tag>]), not ${formatImageReference(ref)}`);
  const layout = await OciLayout.open(ref.path);
  let descriptor = await layout.resolveTag(ref.tag ?? DEFAULT_TAG);
  if (INDEX_TYPES.has(descriptor.mediaType)) descriptor = await selectFromIndex(layout, descriptor, options.platform);
  if (!MANIFEST_TYPES.has(descriptor.mediaType)) {
    throw new PrtiqlError('E_NOT_AN_IMAGE', `${ref.path} tag ${ref.tag ?? DEFAULT_TAG} is a ${descriptor.mediaType}, not an image manifest`);
  }
  const manifestWhat = `manifest ${descriptor.digest}`;
  const manifestBytes = await layout.readBlob(descriptor, MAX_MANIFEST_BYTES);
  const manifest = parseManifest(parseJson(manifestBytes, manifestWhat), manifestWhat);
  const configWhat = `config ${manifest.config.digest}`;
  const configBytes = await layout.readBlob(manifest.config, MAX_CONFIG_BYTES);
  const config = parseImageConfig(parseJson(configBytes, configWhat), configWhat);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new PrtiqlError(
      'E_BAD_INPUT',
      `${manifestWhat} lists ${manifest.layers.length} layers but its config has ${config.rootfs.diff_ids.length} diff_ids`,
    );
  }
  return new LayoutImage(layout, manifestBytes, manifest, configBytes, config);
}
