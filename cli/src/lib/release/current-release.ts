import type { KeyObject } from 'node:crypto';
import { keyIdOf, openEnvelope, parseEnvelope } from '../../../../shared/dsse.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { MediaType } from '../../../../shared/oci.js';
import { parseRelease, type Release } from '../../../../shared/release.js';
import type { ArtifactStore } from '../artifact-store/artifact-store.js';
import { publicKeyOf } from '../signer/signer.js';

function parseJsonBytes(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new PrtiqlError('E_BAD_INPUT', `${what} is not valid JSON`);
  }
}

/**
 * Parses a channel's release.json. Only a signature by `signingKey` (either half), the key in hand, can be
 * checked: such a signature must be valid (anything else means the pointer was altered);
 * signatures by other keys (an earlier key, before a rotation) are not checked. The
 * document must always parse and name the channel.
 */
export function parseCurrentRelease(bytes: Uint8Array, channel: string, signingKey: KeyObject | undefined, what: string): Release {
  try {
    const envelope = parseEnvelope(parseJsonBytes(bytes, what), what);
    if (envelope.payloadType !== MediaType.release) {
      throw new PrtiqlError('E_BAD_INPUT', `${what} has payload type ${envelope.payloadType}, expected ${MediaType.release}`);
    }
    const publicKey = signingKey && publicKeyOf(signingKey);
    const keyid = publicKey && keyIdOf(publicKey);
    const payload =
      publicKey && keyid && envelope.signatures.some((signature) => signature.keyid === keyid)
        ? openEnvelope(envelope, MediaType.release, new Map([[keyid, publicKey]]), 1, what)
        : Buffer.from(envelope.payload, 'base64');
    const release = parseRelease(parseJsonBytes(payload, `${what} payload`));
    if (release.channel !== channel) {
      throw new PrtiqlError('E_BAD_INPUT', `${what} names channel ${release.channel}`);
    }
    return release;
  } catch (error) {
    if (error instanceof PrtiqlError && !error.message.includes(what)) {
      throw new PrtiqlError(error.code, `${what}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/**
 * The release a channel points at now, read back to decide whether a new version may
 * follow it. The publisher holds no trust root: see parseCurrentRelease for what is checked.
 */
export async function readCurrentRelease(store: ArtifactStore, channel: string, signingKey: KeyObject): Promise<Release | undefined> {
  const document = { kind: 'release', channel } as const;
  const bytes = await store.readDocument(document);
  if (bytes === undefined) return undefined;
  return parseCurrentRelease(bytes, channel, signingKey, `the current release of channel ${channel} (${store.documentLocation(document)})`);
}
