import { Flags } from '@oclif/core';
import type { ArtifactStore } from './lib/store/artifact-store.js';
import { openStore } from './lib/store/open-store.js';

/** Flags of every command that writes to an artifact store (docs/artifact-store.md). */
export const storeFlags = {
  to: Flags.string({ description: 'Artifact store: file://<dir> or s3://<bucket>[/<prefix>].', required: true }),
  'endpoint-url': Flags.string({
    description: 'S3-compatible endpoint for s3:// stores (MinIO, Ceph, ...): http(s)://<host>[:<port>]. [default: AWS S3]',
    helpGroup: 'S3',
  }),
  region: Flags.string({ description: 'Region for s3:// stores. [default: AWS_REGION or the AWS profile]', helpGroup: 'S3' }),
  'force-path-style': Flags.boolean({
    description: 'Address s3:// buckets as <endpoint>/<bucket> instead of <bucket>.<endpoint>. [default: on with a non-AWS --endpoint-url]',
    allowNo: true,
    helpGroup: 'S3',
  }),
};

interface StoreFlagValues {
  to: string;
  'endpoint-url'?: string;
  region?: string;
  'force-path-style'?: boolean;
}

/** Opens the store the flags name; S3 credentials come from the AWS SDK's default chain (AWS_* variables, profiles). */
export function openStoreFromFlags(flags: StoreFlagValues): ArtifactStore {
  return openStore(flags.to, { endpointUrl: flags['endpoint-url'], region: flags.region, forcePathStyle: flags['force-path-style'] });
}
