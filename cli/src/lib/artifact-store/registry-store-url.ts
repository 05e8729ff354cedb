import { PrtiqlError } from '../../../../shared/errors.js';
import { parseImageReference, type RegistryReference } from '../image/reference.js';

export const REGISTRY_STORE_FORM = 'docker://<host>/<repo>';

/** A docker://<host>/<repo> store URL: a repository, without tag or digest. */
export function parseRegistryStoreUrl(url: string): RegistryReference {
  const reference = parseImageReference(url);
  if (reference.transport !== 'docker' || reference.tag !== undefined || reference.digest !== undefined) {
    throw new PrtiqlError('E_BAD_REFERENCE', `store URL ${JSON.stringify(url)} names a tag or digest: a registry store is a whole repository, ${REGISTRY_STORE_FORM}`);
  }
  return reference;
}
