import type { Digest } from '../../../shared/digest.js';
import type { CopyImageResult } from '../lib/image/copy-image.js';

/** What `prtiql pull` and `prtiql push` report: schemas/pull.schema.json, schemas/push.schema.json. */
export interface CopyOutput {
  source: string;
  /** `<destination>@<digest>`. */
  reference: string;
  /** Manifest digest (the same at source and destination). */
  digest: Digest;
  /** os/arch[/variant]. */
  platform: string;
  blobsWritten: number;
  blobsSkipped: number;
  blobsMounted: number;
}

export function copyOutput(result: CopyImageResult): CopyOutput {
  return {
    source: result.source,
    reference: `${result.reference}@${result.manifestDigest}`,
    digest: result.manifestDigest,
    platform: result.platform,
    blobsWritten: result.blobs.written,
    blobsSkipped: result.blobs.skipped,
    blobsMounted: result.blobs.mounted,
  };
}
