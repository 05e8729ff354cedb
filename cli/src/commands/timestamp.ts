import { Flags } from '@oclif/core';
import type { Digest } from '../../../shared/digest.js';
import { checkChannelName } from '../../../shared/store-layout.js';
import { BaseCommand } from '../base-command.js';
import { loadSigner } from '../lib/signer/signer.js';
import { DEFAULT_TIMESTAMP_LIFETIME, parseExpiry } from '../lib/release/release-options.js';
import { refreshTimestamp } from '../lib/release/trust-documents.js';
import { openStoreFromFlags, storeFlags } from '../artifact-store-flags.js';

/** What `prtiql timestamp` reports: schemas/timestamp.schema.json. */
interface TimestampOutput {
  channel: string;
  version: number;
  /** Where the timestamp was written. */
  location: string;
  expires: string;
  /** sha256 and size of the release.json the timestamp names. */
  releaseDigest: Digest;
  releaseSizeBytes: number;
}

export default class Timestamp extends BaseCommand<TimestampOutput> {
  static override summary = "Renew a channel's signed timestamp for the release it holds now.";

  static override description = `Signs channels/<channel>/timestamp.json with the online timestamp key: it names the sha256 and size of the channel's current release.json and expires after --expires (1 day by default); stdout gets its location. Devices whose trust root names timestamp keys refuse to update without a valid, unexpired timestamp naming exactly the release they download, so run this more often than the lifetime (a cron job; see docs/SECURITY.md). The key is a file, env:<NAME> or an external signer, exec:<command>.

Exit codes: 2 bad flags; 3 the key is not an Ed25519 private key or the release is malformed; 4 the key file or the channel's release does not exist; 8 the S3 endpoint failed; 11 the S3 endpoint refused the credentials; 13 the exec: signer failed or answered with something that is not a signature by its key (nothing is written).`;

  static override examples = [
    '<%= config.bin %> timestamp --channel stable --key env:PRTIQL_TIMESTAMP_KEY --store s3://releases/fleet',
    '<%= config.bin %> timestamp --channel beta --key keys/timestamp-key.pem --store ./releases --expires 6h --json',
  ];

  static override flags = {
    channel: Flags.string({ char: 'c', description: 'Channel name.', required: true }),
    key: Flags.string({ char: 'k', description: 'Ed25519 timestamp private key: a file, env:<NAME> to read it from an environment variable, or exec:<command>, an external signer (docs/SECURITY.md).', required: true }),
    ...storeFlags,
    expires: Flags.string({ description: 'When the timestamp expires: a duration (1d, 6h) or an RFC 3339 time.', default: DEFAULT_TIMESTAMP_LIFETIME }),
  };

  protected async execute(): Promise<TimestampOutput> {
    const { flags } = await this.parse(Timestamp);
    const created = new Date();
    const channel = checkChannelName(flags.channel);
    const expires = parseExpiry(flags.expires, created);
    const store = await openStoreFromFlags(flags.store, flags);
    const key = await loadSigner(flags.key, 'timestamp key');
    const written = await refreshTimestamp(store, channel, key, created, expires);
    this.say(`channel ${channel} version ${written.version}: timestamp valid until ${written.timestamp.expires} (${written.location})`);
    const { release, expires: until } = written.timestamp;
    return { channel, version: written.version, location: written.location, expires: until, releaseDigest: release.digest, releaseSizeBytes: release.size };
  }

  protected resultLine(output: TimestampOutput): string {
    return output.location;
  }
}
