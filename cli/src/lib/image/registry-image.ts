import type { Readable } from 'node:stream';
import { readCapped } from '../../../../shared/capped-read.js';
import type { Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { parseIndex, parseJson } from '../../../../shared/oci-json.js';
import type { Descriptor, Platform } from '../../../../shared/oci.js';
import { repositoryScope } from '../../../../shared/registry-auth-protocol.js';
import { RegistryClient, type FetchedManifest, type RegistryOptions } from '../registry/registry-client.js';
import { RegistryError } from '../registry/registry-errors.js';
import { assembleImage } from './assemble-image.js';
import type { Image, Layer } from './image.js';
import { uncompressedLayerStream } from './layer-stream.js';
import { INDEX_TYPES, MANIFEST_TYPES, selectManifest } from './manifest-selection.js';
import { DEFAULT_TAG, formatImageReference, type RegistryReference } from './reference.js';

/** Where a layer already lives: pushing it elsewhere on the same registry can mount it. */
export interface LayerOrigin {
  registry: string;
  repository: string;
}

class RegistryLayer implements Layer {
  constructor(
    private readonly client: RegistryClient,
    readonly origin: LayerOrigin,
    readonly descriptor: Descriptor,
    readonly diffID: Digest,
  ) {}

  openCompressed(): Promise<Readable> {
    return this.client.openBlob(this.origin.repository, this.descriptor, [repositoryScope(this.origin.repository, 'pull')]);
  }

  async openUncompressed(): Promise<Readable> {
    return uncompressedLayerStream(this.descriptor, this.diffID, await this.openCompressed());
  }
}

/** The registry repository a layer was read from, if it was read from one. */
export function layerOrigin(layer: Layer): LayerOrigin | undefined {
  return layer instanceof RegistryLayer ? layer.origin : undefined;
}

/** A missing tag names the tags the repository has, when the registry lists them. */
async function manifestOrNotFound(client: RegistryClient, reference: RegistryReference, name: string, scopes: string[]): Promise<FetchedManifest> {
  try {
    return await client.getManifest(reference.repository, name, scopes);
  } catch (error) {
    if (!(error instanceof RegistryError) || error.registryCode !== 'MANIFEST_UNKNOWN' || reference.digest) throw error;
    const tags = await client.listTags(reference.repository, scopes).catch(() => undefined);
    if (!tags) throw error;
    throw new PrtiqlError('E_NOT_FOUND', `${formatImageReference(reference)} does not exist (tags: ${tags.join(', ') || 'none'})`);
  }
}

/**
 * Opens one single-platform image of a registry: the manifest by digest or tag (an index
 * resolved by platform), the config fetched and verified now, layers streamed and verified
 * when opened.
 */
export async function openRegistryImage(reference: RegistryReference, platform: Platform | undefined, options: RegistryOptions = {}): Promise<Image> {
  const client = new RegistryClient(reference.registry, options);
  const scopes = [repositoryScope(reference.repository, 'pull')];
  let fetched = await manifestOrNotFound(client, reference, reference.digest ?? reference.tag ?? DEFAULT_TAG, scopes);
  if (INDEX_TYPES.has(fetched.mediaType)) {
    const what = `image index ${fetched.digest} (${formatImageReference(reference)})`;
    const chosen = selectManifest(parseIndex(parseJson(fetched.bytes, what), what), platform, what);
    fetched = await client.getManifest(reference.repository, chosen.digest, scopes);
  }
  if (!MANIFEST_TYPES.has(fetched.mediaType)) {
    throw new PrtiqlError('E_NOT_AN_IMAGE', `${formatImageReference(reference)} is a ${fetched.mediaType || 'manifest of unknown type'}, not an image`);
  }
  const origin = { registry: reference.registry, repository: reference.repository };
  return assembleImage({
    manifestBytes: fetched.bytes,
    manifestWhat: `manifest ${fetched.digest}`,
    mediaType: fetched.mediaType,
    readConfig: async (config, limit, what) => {
      if (config.size > limit) throw new PrtiqlError('E_TOO_LARGE', `${what} is larger than ${limit} bytes`);
      return readCapped(await client.openBlob(reference.repository, config, scopes), limit, what);
    },
    layer: (layer, diffID) => new RegistryLayer(client, origin, layer, diffID),
  });
}
