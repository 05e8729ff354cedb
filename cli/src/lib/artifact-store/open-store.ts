import { resolve } from 'node:path';
import { PrtiqlError } from '../../../../shared/errors.js';
import type { RegistryOptions } from '../registry/registry-client.js';
import type { ArtifactStore } from './artifact-store.js';
import { FileStore } from './file-store.js';
import { parseRegistryStoreUrl, REGISTRY_STORE_FORM } from './registry-store-url.js';
import type { S3ConnectionOptions } from './s3-client.js';
import { parseS3Url, S3_URL_FORM } from './s3-location.js';

export const SUPPORTED_STORE_FORMS = ['<dir>', 'file://<dir>', S3_URL_FORM, REGISTRY_STORE_FORM] as const;

/**
 * Opens the store a `--to` URL names: a directory (a plain path, or file://<dir>), an S3
 * bucket (s3://<bucket>[/<prefix>], reached as `s3` says) or a registry repository
 * (docker://<host>/<repo>, reached as `registry` says). The S3 settings only apply to s3:// URLs.
 * The S3 and registry stores' modules (the AWS SDK, undici) are loaded only for their URLs:
 * they are most of what starting the CLI would cost.
 */
export async function openStore(url: string, s3: S3ConnectionOptions = {}, registry: RegistryOptions = {}): Promise<ArtifactStore> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  const supported = SUPPORTED_STORE_FORMS.join(', ');
  if (scheme === 's3') {
    const location = parseS3Url(url);
    const { S3Store } = await import('./s3-store.js');
    return new S3Store(location, s3);
  }
  if (Object.values(s3).some((value) => value !== undefined)) {
    throw new PrtiqlError('E_USAGE', `the S3 endpoint, region, path style and credentials apply to s3:// stores only, not to ${JSON.stringify(url)}`);
  }
  if (scheme === 'docker') {
    const reference = parseRegistryStoreUrl(url);
    const { RegistryStore } = await import('./registry-store.js');
    return new RegistryStore(reference, registry);
  }
  if (scheme === 'file' || (scheme === undefined && url !== '' && !url.includes(':'))) {
    const path = scheme === 'file' ? url.slice('file://'.length) : url;
    if (!path) throw new PrtiqlError('E_USAGE', `store URL ${JSON.stringify(url)} names no directory: use ${supported}`);
    return new FileStore(resolve(path));
  }
  throw new PrtiqlError('E_USAGE', `unsupported store URL ${JSON.stringify(url)}: supported forms are ${supported}`);
}
