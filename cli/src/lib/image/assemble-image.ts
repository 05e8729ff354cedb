import { sha256Digest, type Digest } from '../../../../shared/digest.js';
import { MAX_CONFIG_BYTES } from '../../../../shared/limits.js';
import { checkLayerCount, parseImageConfig, parseJson, parseManifest } from '../../../../shared/oci-json.js';
import type { Descriptor } from '../../../../shared/oci.js';
import type { Image, Layer } from './image.js';

/** What an image source supplies once it holds a manifest's verified bytes. */
export interface ImageParts {
  manifestBytes: Buffer;
  /** Names the manifest in messages, e.g. `manifest sha256:... in s3://bucket`. */
  manifestWhat: string;
  /** Appended to the config's name in messages (e.g. ` in s3://bucket`). */
  where?: string;
  /** The media type the source reported, when it overrides the manifest's own field. */
  mediaType?: string;
  /** The config blob's bytes, verified against the descriptor and at most `limit` long. */
  readConfig(descriptor: Descriptor, limit: number, what: string): Promise<Buffer>;
  layer(descriptor: Descriptor, diffID: Digest): Layer;
}

/** Parses the manifest, reads and checks its config, and pairs each layer with its diffID. */
export async function assembleImage(parts: ImageParts): Promise<Image> {
  const parsed = parseManifest(parseJson(parts.manifestBytes, parts.manifestWhat), parts.manifestWhat);
  const configWhat = `config ${parsed.config.digest}${parts.where ?? ''}`;
  const configBytes = await parts.readConfig(parsed.config, MAX_CONFIG_BYTES, configWhat);
  const config = parseImageConfig(parseJson(configBytes, configWhat), configWhat);
  checkLayerCount(parsed, config, parts.manifestWhat);
  return {
    manifest: parts.mediaType === undefined ? parsed : { ...parsed, mediaType: parts.mediaType },
    manifestBytes: parts.manifestBytes,
    manifestDigest: sha256Digest(parts.manifestBytes),
    config,
    configBytes,
    layers: parsed.layers.map((layer, i) => parts.layer(layer, config.rootfs.diff_ids[i])),
  };
}
