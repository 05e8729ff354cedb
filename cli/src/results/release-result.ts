import type { Digest } from '../../../shared/digest.js';
import type { PublishedBase, PublishedImage, PublishReleaseResult } from '../lib/release/publish-release.js';
import { deltaSummary, layerSummary, type DeltaSummary, type LayerSummary } from './layer-summary.js';

/** One platform's image of a release: schemas/release.schema.json. */
export interface ReleasedImage {
  /** os/arch[/variant]. */
  platform: string;
  /** Manifest digest. */
  digest: Digest;
  layers: LayerSummary[];
  deltas: DeltaSummary[];
}

/** What devices running one base image download: schemas/release.schema.json. */
export interface BaseDownload {
  /** os/arch[/variant] of the base and of the image it updates to. */
  platform: string;
  /** Manifest digest of the base, as the deltas name it. */
  digest: Digest;
  /** The channel's version that released the base, when it came from the channel's history. */
  version?: number;
  /** The --base reference that named it, `<reference>@<digest>`. */
  reference?: string;
  /** Layer bytes a device on this base downloads. */
  downloadBytes: number;
  /** Layer bytes of the whole image: what a device without a usable base downloads. */
  fullBytes: number;
}

/** What `prtiql release` reports: schemas/release.schema.json. */
export interface ReleaseOutput {
  channel: string;
  version: number;
  /** Where the signed release was written. */
  location: string;
  /** Digest of the released manifest, or of the image index for a multi-platform release. */
  digest: Digest;
  /** True when the channel already held exactly this release: nothing was written. */
  unchanged: boolean;
  blobsUploaded: number;
  blobsSkipped: number;
  images: ReleasedImage[];
  /** Every base the release carries deltas from; empty for a channel's first release or with --no-deltas. */
  bases: BaseDownload[];
  trustRootVersion?: number;
  trustRootLocation?: string;
  timestampLocation?: string;
}

/** `givenBases` maps the manifest digests of --base images to their references. */
export function releaseOutput(result: PublishReleaseResult, givenBases: ReadonlyMap<Digest, string>): ReleaseOutput {
  const image = (published: PublishedImage): ReleasedImage => ({
    platform: published.platform,
    digest: published.manifestDigest,
    layers: published.layers.map(layerSummary),
    deltas: published.deltas.map(deltaSummary),
  });
  const base = (published: PublishedBase): BaseDownload => {
    const reference = givenBases.get(published.digest);
    return { ...published, ...(reference !== undefined && { reference: `${reference}@${published.digest}` }) };
  };
  return {
    channel: result.channel,
    version: result.version,
    location: result.release,
    digest: result.index ?? result.manifestDigest,
    unchanged: result.unchanged,
    blobsUploaded: result.blobsUploaded,
    blobsSkipped: result.blobsSkipped,
    images: [result, ...(result.platforms ?? [])].map(image),
    bases: result.bases.map(base),
    ...(result.trustRoot && { trustRootVersion: result.trustRoot.version, trustRootLocation: result.trustRoot.location }),
    ...(result.timestamp !== undefined && { timestampLocation: result.timestamp }),
  };
}
