import type { KeyObject } from 'node:crypto';
import { PrtiqlError } from '../../../../shared/errors.js';
import { MAX_DOCUMENT_BYTES } from '../../../../shared/limits.js';
import { MediaType } from '../../../../shared/oci.js';
import { encodeRelease, type Release } from '../../../../shared/release.js';
import { asSigner, signEnvelopeWith, type Signer } from '../signer/signer.js';

/** The bytes of channels/<channel>/release.json: a DSSE envelope over the Release JSON (docs/release-format.md). */
export async function signRelease(release: Release, signingKey: KeyObject | Signer): Promise<Buffer> {
  const envelope = await signEnvelopeWith(MediaType.release, encodeRelease(release), [asSigner(signingKey)]);
  const bytes = Buffer.from(`${JSON.stringify(envelope, null, 2)}\n`, 'utf8');
  if (bytes.length > MAX_DOCUMENT_BYTES) {
    throw new PrtiqlError('E_TOO_LARGE', `the signed release is ${bytes.length} bytes; devices accept at most ${MAX_DOCUMENT_BYTES}`);
  }
  return bytes;
}
