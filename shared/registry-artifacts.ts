import { digestHex, type Digest } from './digest.js';
import { PrtiqlError } from './errors.js';
import { MediaType, type Descriptor, type Platform } from './oci.js';
import { parseJson, parseManifest } from './oci-json.js';
import { formatPlatform } from './platform.js';
import { checkChannelName, type StoreDocument } from './store-layout.js';

/**
 * How an artifact store's documents live in an OCI registry (docs/artifact-store.md): each is
 * an OCI artifact, an image manifest with an `artifactType`, the empty config and the document
 * as its one layer. Documents are found by tag; `prtiql release` and devices agree on the tags
 * through this module.
 */

/** The OCI empty descriptor: the config of every artifact manifest. */
export const EMPTY_CONFIG = {
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
} as const satisfies Descriptor;
export const EMPTY_CONFIG_BYTES = Buffer.from('{}');

export const DSSE_ENVELOPE_TYPE = 'application/vnd.dsse.envelope.v1+json';
export const DELTA_RECORD_TYPE = 'application/vnd.prtiql.delta-record.v1+json';

/** Annotations prtiql puts on its artifacts. */
export const ANNOTATION_DOCUMENT = 'io.prtiql.document';
export const ANNOTATION_DELTA_BASE = 'io.prtiql.delta.base';

export interface DocumentArtifact {
  /** The tag that names the artifact in the store's repository. */
  tag: string;
  artifactType: string;
  /** Media type of the artifact's one layer, the document itself. */
  layerMediaType: string;
}

/** The documents found by tag; delta records are found through referrers (their names are too long for a tag). */
export type TaggedDocument = Exclude<StoreDocument, { kind: 'delta-record' }>;

/**
 * The artifact of a store document that devices or publishers look up by tag. The signed
 * release of channel `<c>` is the artifact tagged `<c>`: the channel tag. Every other
 * document gets `_` and its path with `/` as `.` and without `.json`
 * (`channels/stable/timestamp.json` is `_channels.stable.timestamp`, `roots/2.json` is
 * `_roots.2`): channel names never start with `_`, so these tags never meet a channel's.
 */
export function documentArtifact(document: TaggedDocument): DocumentArtifact {
  if (document.kind === 'release') return { tag: checkChannelName(document.channel), artifactType: MediaType.release, layerMediaType: DSSE_ENVELOPE_TYPE };
  const tag = document.kind === 'root' ? `_roots.${document.version}` : `_channels.${checkChannelName(document.channel)}.${document.kind}`;
  return { tag, artifactType: `application/vnd.prtiql.${document.kind}.v1+json`, layerMediaType: 'application/json' };
}

/**
 * The tag of the image a release of `channel` named, `_releases.<channel>.<version>` (the
 * index of a multi-platform release), and of each image of a multi-platform release,
 * `_releases.<channel>.<version>.<os>-<arch>[-<variant>]`. Registries delete untagged
 * manifests in garbage collection; these tags keep every released image. They start with `_`,
 * so they never meet a channel tag, and end in the version or a platform (which holds a `-`),
 * so they never meet the document tags `_channels.<c>.<name>` either.
 */
export function releaseImageTag(channel: string, version: number, platform?: Platform): string {
  const tag = `_releases.${checkChannelName(channel)}.${version}`;
  return platform ? `${tag}.${formatPlatform(platform).replaceAll('/', '-')}` : tag;
}

/** The tag of the referrers fallback index of `subject` (OCI distribution spec 1.1): `sha256-<hex>`. */
export function referrersTag(subject: Digest): string {
  return `sha256-${digestHex(subject)}`;
}

/**
 * The document layer of an artifact manifest read from a registry: the manifest must be a
 * valid OCI manifest (shared/oci-json.ts), an artifact of `artifactType` with a first layer.
 * Anything else (an image someone tagged with a channel's name, say) is E_BAD_INPUT naming `what`.
 */
export function documentLayer(manifestBytes: Uint8Array, artifactType: string, what: string): Descriptor {
  const manifest = parseManifest(parseJson(manifestBytes, what), what);
  if (manifest.artifactType !== artifactType) {
    const found = typeof manifest.artifactType === 'string' ? `an artifact of type ${manifest.artifactType}` : 'no artifact (an image?)';
    throw new PrtiqlError('E_BAD_INPUT', `${what} is ${found}, expected an artifact of type ${artifactType}`);
  }
  const layer = manifest.layers[0];
  if (!layer) throw new PrtiqlError('E_BAD_INPUT', `${what} has no document layer`);
  return { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
}
