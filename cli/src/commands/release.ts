import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { openImage } from '../lib/image/open-image.js';
import { loadPrivateKey, readTrustRootFile } from '../lib/keys.js';
import { registryFlags, registryOptionsFrom, sourcePlatformFlag, sourcePlatformFrom } from '../registry-flags.js';
import { publishRelease, type PublishReleaseResult } from '../lib/release/publish-release.js';
import { checkChannelName, DEFAULT_RELEASE_LIFETIME, DEFAULT_TIMESTAMP_LIFETIME, parseExpiry, parseReleaseVersion } from '../lib/release/release-options.js';
import { openStoreFromFlags, storeFlags } from '../store-flags.js';

export default class Release extends BaseCommand {
  static override summary = 'Publish an image as a signed release on a channel.';

  static override description = `Checks every layer of the image against the diffID in its config, uploads to the store the gzip layer blobs, config and manifest it does not hold yet (existing blobs are never rewritten), then adds a delta from each --base image (reusing what \`prtiql delta\` recorded in the store, else computing it), signs the release with the Ed25519 key and writes it to channels/<channel>/release.json, last. Layers that are not gzip are gzipped; the stored manifest then names the gzip blobs. Formats: docs/release-format.md and docs/artifact-store.md.

The version must be greater than the channel's current version. Publishing the same version of the same image again does nothing and succeeds.

With --to s3://<bucket>[/<prefix>], credentials come from the AWS SDK's default chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, instance roles); --endpoint-url selects an S3-compatible service.

Exit codes: 2 bad flags (channel name, version, expiry, endpoint URL, no region); 3 the key is not an Ed25519 private key, the path is not an OCI image layout, or the store URL is not supported; 4 the key file, the image tag or the S3 bucket does not exist; 5 a layer does not match its diffID; 6 the channel's current release has a bad signature by this key; 7 the version is not newer than the channel's; 8 the S3 endpoint cannot be reached or failed; 11 the S3 endpoint refused the credentials.`;

  static override examples = [
    '<%= config.bin %> release --image oci:./images/app:1.4 --channel stable --version 14 --key keys/release-key.pem --to file://./releases',
    '<%= config.bin %> release --image oci:./images/app:1.5 --channel stable --version 15 --key keys/release-key.pem --to ./releases --base oci:./images/app:1.4 --base oci:./images/app:1.3',
    '<%= config.bin %> release --image oci:./images/app:1.5 --channel beta --version 15 --key keys/release-key.pem --to file:///srv/prtiql --expires 30d --device-class pi4 --json',
    'AWS_PROFILE=releases <%= config.bin %> release --image oci:./images/app:1.6 --channel stable --version 16 --key keys/release-key.pem --to s3://my-bucket/prtiql --region eu-central-1',
    '<%= config.bin %> release --image oci:./images/app:1.6 --channel stable --version 16 --key keys/release-key.pem --to s3://releases --endpoint-url http://minio.local:9000',
  ];

  static override flags = {
    image: Flags.string({
      description: 'Image to release: oci:<path>[:<tag>], docker-archive:<file>[:<repo>:<tag>] or docker://<host>/<repo>[:<tag>|@<digest>].',
      required: true,
    }),
    platform: sourcePlatformFlag,
    ...registryFlags,
    channel: Flags.string({ char: 'c', description: 'Channel name: lowercase letters, digits, . _ - (at most 64).', required: true }),
    version: Flags.string({ char: 'v', description: 'Release version: a positive integer, greater than the channel\'s current one.', required: true }),
    key: Flags.string({ char: 'k', description: 'Ed25519 private key (PKCS#8 PEM) that signs the release: a file, or env:<NAME> to read it from an environment variable.', required: true }),
    ...storeFlags,
    expires: Flags.string({ description: 'When devices stop accepting the release: a duration (90d, 12h, 2w) or an RFC 3339 time.', default: DEFAULT_RELEASE_LIFETIME }),
    'device-class': Flags.string({ description: 'Only devices of this class accept the release.' }),
    root: Flags.string({ description: 'A trust root (root.json) to publish as roots/<version>.json before the release, so devices follow a key rotation; the --key must be one of its keys.' }),
    'timestamp-key': Flags.string({ description: 'Online Ed25519 key (file or env:<NAME>) that signs channels/<channel>/timestamp.json for this release; needed when the trust root names timestamp keys.' }),
    'timestamp-expires': Flags.string({ description: 'When the timestamp expires: a duration or an RFC 3339 time.', default: DEFAULT_TIMESTAMP_LIFETIME }),
    base: Flags.string({
      description: 'An image devices may be running (repeatable): the release carries a delta from it, computed now or reused from `prtiql delta`.',
      multiple: true,
    }),
  };

  async run(): Promise<PublishReleaseResult> {
    const { flags } = await this.parse(Release);
    const created = new Date();
    const channel = checkChannelName(flags.channel);
    const version = parseReleaseVersion(flags.version);
    const expires = parseExpiry(flags.expires, created);
    const store = openStoreFromFlags(flags.to, flags);
    const timestampExpires = parseExpiry(flags['timestamp-expires'], created);
    const signingKey = await loadPrivateKey(flags.key);
    const timestampKey = flags['timestamp-key'] === undefined ? undefined : await loadPrivateKey(flags['timestamp-key'], 'timestamp key');
    const root = flags.root === undefined ? undefined : await readTrustRootFile(flags.root);
    const imageOptions = { platform: sourcePlatformFrom(flags), registry: registryOptionsFrom(flags) };
    const image = await openImage(flags.image, imageOptions);
    const bases = [];
    for (const reference of flags.base ?? []) bases.push(await openImage(reference, imageOptions));

    const result = await publishRelease({
      image,
      store,
      channel,
      version,
      signingKey,
      created,
      expires,
      deviceClass: flags['device-class'],
      bases,
      ...(root && { root }),
      ...(timestampKey && { timestamp: { key: timestampKey, expires: timestampExpires } }),
      progress: (label, total) => this.progress(label, total),
    });
    if (result.unchanged) {
      this.say(`channel ${channel} already has version ${version} of ${result.manifestDigest}; nothing to do`);
    } else {
      this.say(`channel ${channel} is at version ${version}: ${result.manifestDigest} (${result.blobsUploaded} blobs uploaded, ${result.blobsSkipped} already present)`);
      this.say(`signed release: ${result.release}`);
      if (result.trustRoot) this.say(`trust root version ${result.trustRoot.version}: ${result.trustRoot.location}`);
      if (result.timestamp) this.say(`timestamp: ${result.timestamp}`);
    }
    return result;
  }
}
