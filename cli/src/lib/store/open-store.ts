import { resolve } from 'node:path';
import { PrtiqlError } from '../../../../shared/errors.js';
import type { ArtifactStore } from './artifact-store.js';
import { FileStore } from './file-store.js';

export const SUPPORTED_STORE_FORMS = ['file://<dir>'] as const;
const PLANNED_SCHEMES = ['s3', 'docker'];

/** Opens the store a `--to` URL names. Only directories (file://<dir>) are supported so far. */
export function openStore(url: string): ArtifactStore {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  const supported = SUPPORTED_STORE_FORMS.join(', ');
  if (scheme === 'file') {
    const path = url.slice('file://'.length);
    if (!path) throw new PrtiqlError('E_BAD_REFERENCE', `store URL ${JSON.stringify(url)} names no directory: use ${supported}`);
    return new FileStore(resolve(path));
  }
  if (scheme !== undefined && PLANNED_SCHEMES.includes(scheme)) {
    throw new PrtiqlError('E_BAD_REFERENCE', `${scheme}:// stores are not supported yet: use ${supported}`);
  }
  throw new PrtiqlError('E_BAD_REFERENCE', `unsupported store URL ${JSON.stringify(url)}: supported forms are ${supported}`);
}
