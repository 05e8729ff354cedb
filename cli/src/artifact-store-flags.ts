import { Flags } from '@oclif/core';
import type { ArtifactStore } from './lib/artifact-store/artifact-store.js';
import { openStore } from './lib/artifact-store/open-store.js';
import { registryOptionsFrom } from './registry-flags.js';

export const STORE_FORMS = 'a directory (<dir> or file://<dir>), s3://<bucket>[/<prefix>] or a registry repository docker://<host>/<repo>';

/** How to reach an S3 store; every command that writes to a store takes them (docs/artifact-store.md). */
export const storeConnectionFlags = {
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

/**
 * What --store is in every command: the artifact store it writes to. `oldName` is the spelling
 * the command used before, still accepted with a deprecation warning.
 */
export function storeFlagProperties(oldName: string) {
  return { description: `Artifact store: ${STORE_FORMS}.`, aliases: [oldName], deprecateAliases: true };
}

/** A required --store (once --to) and the connection flags. */
export const storeFlags = {
  store: Flags.string({ ...storeFlagProperties('to'), required: true }),
  ...storeConnectionFlags,
};

interface StoreConnectionValues {
  'endpoint-url'?: string;
  region?: string;
  'force-path-style'?: boolean;
  insecure?: boolean;
  authfile?: string;
}

/**
 * Opens the store `url` names; S3 credentials come from the AWS SDK's default chain (AWS_*
 * variables, profiles), registry credentials as for docker:// images (--authfile, docker's config).
 */
export function openStoreFromFlags(url: string, flags: StoreConnectionValues): Promise<ArtifactStore> {
  return openStore(url, { endpointUrl: flags['endpoint-url'], region: flags.region, forcePathStyle: flags['force-path-style'] }, registryOptionsFrom(flags));
}
