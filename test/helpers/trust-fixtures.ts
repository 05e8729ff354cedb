import { readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { parseEnvelopeBytes, signEnvelope } from '../../shared/dsse.js';
import { MediaType } from '../../shared/oci.js';
import { encodeRelease, parseRelease, type Release } from '../../shared/release.js';
import { signTimestamp } from '../../cli/src/lib/release/trust-documents.js';
import { parseBlobPath, pointerPath, timestampPath } from '../../shared/store-layout.js';
import { timestampFor } from '../../shared/timestamp.js';
import { serveDirectory, type StaticServer } from '../../scripts/lib/static-server.js';
import type { Signer } from './signed-artifact-store.js';

export function releasePath(storeDir: string, channel = 'stable'): string {
  return join(storeDir, pointerPath(channel));
}

/** The Release inside a store's channels/<channel>/release.json (signatures not checked). */
export async function readPublishedRelease(storeDir: string, channel = 'stable'): Promise<Release> {
  const envelope = parseEnvelopeBytes(await readFile(releasePath(storeDir, channel)), 'release');
  return parseRelease(JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')));
}

/** Rewrites a channel's release.json: `change` edits the Release, then `signers` sign it. Returns the new bytes. */
export async function resignRelease(storeDir: string, signers: Signer[], change: (release: Release) => void, channel = 'stable'): Promise<Buffer> {
  const release = await readPublishedRelease(storeDir, channel);
  change(release);
  const bytes = Buffer.from(JSON.stringify(signEnvelope(MediaType.release, encodeRelease(release), signers.map((s) => s.privateKey))));
  await writeFile(releasePath(storeDir, channel), bytes);
  return bytes;
}

/** Writes channels/<channel>/timestamp.json naming `releaseBytes` (the channel's release.json by default). */
export async function writeTestTimestamp(
  storeDir: string,
  signer: Signer,
  times: { created: Date; expires: Date },
  releaseBytes?: Buffer,
  channel = 'stable',
): Promise<void> {
  const named = releaseBytes ?? (await readFile(releasePath(storeDir, channel)));
  const timestamp = timestampFor(channel, named, times.created, times.expires);
  await writeFile(join(storeDir, timestampPath(channel)), await signTimestamp(timestamp, signer.privateKey));
}

export interface CountingServer extends StaticServer {
  /** Paths requested so far, in order. */
  requests: string[];
  /** Requests for blobs (layers, deltas, manifests, configs) since the last reset. */
  blobRequests(): string[];
  reset(): void;
}

/** serveDirectory over `root`, recording every request path: tests prove what was never fetched. */
export async function countingServer(root: string): Promise<CountingServer> {
  const served = await serveDirectory(root);
  const requests: string[] = [];
  served.server.on('request', (request: IncomingMessage) => requests.push(new URL(request.url ?? '/', 'http://x').pathname));
  return {
    ...served,
    requests,
    blobRequests: () => requests.filter((path) => parseBlobPath(path.slice(1)) !== undefined),
    reset: () => {
      requests.length = 0;
    },
  };
}
