import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { openStoreFromFlags, STORE_FORMS, storeConnectionFlags } from '../artifact-store-flags.js';
import { inspectChannel, type InspectResult } from '../lib/inspect/inspect-channel.js';
import { readTrustRootFile } from '../lib/keys.js';
import { registryFlags } from '../registry-flags.js';

export default class Inspect extends BaseCommand<InspectResult> {
  static override summary = "Show a channel's releases, their deltas and sizes, and verify their signatures.";

  static override description = `Lists the channel's releases, newest first: version, the released image's digest, each platform's image with its layers and sizes, and the deltas devices can download instead of the full layers (from which base, how large against the full layer). The current release comes from its signed release.json; earlier ones from channels/<channel>/history.json, with the deltas recorded in the store to their images.

With --trust root.json, the current release is checked as a device pinning that root would (following the roots/<n>.json the store publishes after it): each signature is reported as verified, failed or by an untrusted key, and the release as verified or failed with the device's error code; so is the channel's timestamp when the root names timestamp keys. Earlier releases' signatures are no longer in the store (the channel's release.json holds the current one only).

Stdout gets "<channel> <version> <digest> <signature>" of the current release; --json prints one object (schemas/inspect.schema.json). Exit codes: 2 bad flags; 3 a document in the store or the trust root is malformed; 4 the channel has no release; 8 the store cannot be reached; 11 the store refused the credentials. A release that fails verification is reported, not an error.`;

  static override examples = [
    '<%= config.bin %> inspect ./releases --channel stable --trust keys/root.json',
    '<%= config.bin %> inspect s3://my-bucket/prtiql --channel stable --region eu-central-1 --json',
    '<%= config.bin %> inspect docker://registry.local/app-releases --channel stable --trust root.json --json',
  ];

  static override args = {
    store: Args.string({ description: `Artifact store: ${STORE_FORMS}.`, required: true }),
  };

  static override flags = {
    channel: Flags.string({ char: 'c', description: 'Channel name.', required: true }),
    trust: Flags.string({ description: 'Trust root (root.json) to verify signatures against, as devices pinning it do.' }),
    ...storeConnectionFlags,
    ...registryFlags,
  };

  protected async execute(): Promise<InspectResult> {
    const { args, flags } = await this.parse(Inspect);
    const store = await openStoreFromFlags(args.store, flags);
    const trustRoot = flags.trust === undefined ? undefined : await readTrustRootFile(flags.trust);
    const result = await inspectChannel({ store, channel: flags.channel, trustRoot });
    if (result.trustRootVersion !== undefined) this.say(`trust root version ${result.trustRootVersion}${result.trustRootError ? ` (a later root failed: ${result.trustRootError})` : ''}`);
    for (const release of result.releases) {
      const signature = release.signatureError ? `${release.signature}: ${release.signatureError}` : release.signature;
      this.say(`version ${release.version}${release.current ? ' (current)' : ''} ${release.digest}, created ${release.created}, signature ${signature}`);
      for (const check of release.signatures ?? []) this.say(`  signature by key ${check.keyId}: ${check.status}`);
      for (const image of release.images) {
        this.say(`  ${image.platform} ${image.digest}: ${image.layers.length} layers, ${image.sizeBytes} bytes`);
        for (const delta of image.deltas) {
          const base = delta.baseVersion === undefined ? delta.baseDigest : `version ${delta.baseVersion}`;
          this.say(`    delta from ${base} for layer ${delta.targetLayer}: ${delta.sizeBytes} bytes instead of ${delta.fullSizeBytes}`);
        }
      }
    }
    if (result.timestampSignature) this.say(`timestamp: ${result.timestampSignature}${result.timestampError ? `: ${result.timestampError}` : ''}`);
    return result;
  }

  /** Human mode's stdout: the channel's current release and the verdict on it. */
  protected resultLine(result: InspectResult): string {
    const current = result.releases[0];
    return `${result.channel} ${current.version} ${current.digest} ${current.signature}`;
  }
}
