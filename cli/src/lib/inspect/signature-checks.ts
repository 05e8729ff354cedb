import { verify } from 'node:crypto';
import { parseEnvelopeBytes, preAuthEncoding } from '../../../../shared/dsse.js';
import { asPrtiqlError } from '../../../../shared/errors.js';
import type { Release } from '../../../../shared/release.js';
import { verifyRelease } from '../../../../shared/release.js';
import { checkReleaseMatchesTimestamp, verifyTimestamp } from '../../../../shared/timestamp.js';
import { loadTrustRoot, verifyRootSuccessor, type LoadedTrustRoot } from '../../../../shared/trust-root.js';
import type { ArtifactStore } from '../artifact-store/artifact-store.js';

export type Verdict = 'verified' | 'failed';

/** One signature of an envelope: by a key of the root and valid, by a key of the root and invalid, or by a key it does not name. */
export interface CheckedSignature {
  keyId: string;
  status: Verdict | 'untrusted';
}

/** What a device would decide, and why not when it would refuse. */
export interface DocumentVerdict {
  verdict: Verdict;
  errorCode?: string;
  error?: string;
}

export interface TrustChain {
  trust: LoadedTrustRoot;
  /** The first published root that does not follow the one before, when there is one. */
  error?: DocumentVerdict;
}

function failed(error: unknown): DocumentVerdict {
  const { code, message } = asPrtiqlError(error);
  return { verdict: 'failed', errorCode: code, error: message };
}

/** The given root, then every roots/<n>.json the store publishes after it, each checked as devices check it. */
export async function followTrustChain(store: ArtifactStore, rootBytes: Uint8Array): Promise<TrustChain> {
  let trust = loadTrustRoot(rootBytes);
  for (;;) {
    const next = await store.readDocument({ kind: 'root', version: trust.root.version + 1 });
    if (!next) return { trust };
    try {
      trust = verifyRootSuccessor(trust, next);
    } catch (error) {
      return { trust, error: failed(error) };
    }
  }
}

/** Each signature of a signed release on its own. */
export function checkSignatures(releaseBytes: Uint8Array, trust: LoadedTrustRoot): CheckedSignature[] {
  const envelope = parseEnvelopeBytes(releaseBytes, 'release');
  const pae = preAuthEncoding(envelope.payloadType, Buffer.from(envelope.payload, 'base64'));
  return envelope.signatures.map(({ keyid, sig }) => {
    const key = trust.keys.get(keyid);
    if (!key) return { keyId: keyid, status: 'untrusted' };
    return { keyId: keyid, status: verify(null, pae, key, Buffer.from(sig, 'base64')) ? 'verified' : 'failed' };
  });
}

/** The device's verdict on a channel's release.json: signatures, threshold, channel and expiry (the device class is the release's own). */
export function releaseVerdict(releaseBytes: Uint8Array, release: Release, trust: LoadedTrustRoot, now: Date): DocumentVerdict {
  try {
    verifyRelease(releaseBytes, trust, { channel: release.channel, now, deviceClass: release.deviceClass });
    return { verdict: 'verified' };
  } catch (error) {
    return failed(error);
  }
}

/**
 * The device's verdict on a channel's timestamp.json: signed by the timestamp keys, unexpired,
 * naming exactly this release.json; with its expiry once verified.
 */
export function timestampVerdict(timestampBytes: Uint8Array, releaseBytes: Uint8Array, channel: string, trust: LoadedTrustRoot, now: Date): DocumentVerdict & { expires?: string } {
  try {
    const timestamp = verifyTimestamp(timestampBytes, trust, { channel, now });
    checkReleaseMatchesTimestamp(releaseBytes, timestamp);
    return { verdict: 'verified', expires: timestamp.expires };
  } catch (error) {
    return failed(error);
  }
}
