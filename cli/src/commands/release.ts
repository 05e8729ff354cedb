import { Flags } from '@oclif/core';
import type { Digest } from '../../../shared/digest.js';
import { PrtiqlError } from '../../../shared/errors.js';
import { checkChannelName } from '../../../shared/store-layout.js';
import { openStoreFromFlags, storeFlags } from '../artifact-store-flags.js';
import { BaseCommand } from '../base-command.js';
import { openPlatformImages } from '../lib/image/platform-images.js';
import { readTrustRootFile } from '../lib/keys.js';
import { loadSigner } from '../lib/signer/signer.js';
import { publishRelease } from '../lib/release/publish-release.js';
import { DEFAULT_BASE_RELEASES, DEFAULT_RELEASE_LIFETIME, DEFAULT_TIMESTAMP_LIFETIME, parseExpiry, parseReleaseVersion } from '../lib/release/release-options.js';
import { maxMemoryFlag } from '../memory-flag.js';
import { registryFlags, registryOptionsFrom, sourcePlatformFrom } from '../registry-flags.js';
import { releaseOutput, type BaseDownload, type ReleaseOutput } from '../results/release-result.js';

/** Two significant digits below 1% (a small delta is not "0.0%"), one decimal above. */
function percent(part: number, whole: number): string {
  const value = (100 * part) / Math.max(1, whole);
  return `${value > 0 && value < 1 ? value.toPrecision(2) : value.toFixed(1)}%`;
}

function baseName(base: BaseDownload): string {
  return base.version === undefined ? (base.reference ?? base.digest) : `version ${base.version}`;
}

export default class Release extends BaseCommand<ReleaseOutput> {
  static override summary = 'Publish an image as a signed release on a channel.';

  static override description = `Checks every layer of the image against the diffID in its config, uploads to the store the gzip layer blobs, config and manifest it does not hold yet (existing blobs are never rewritten), then adds deltas (reusing what \`prtiql delta\` recorded in the store, else computing them): from the images of the channel's newest releases (--base-releases, ${DEFAULT_BASE_RELEASES} unless told otherwise; none with --no-deltas) and from each --base image. It records the release in channels/<channel>/history.json, signs it with the Ed25519 key and writes it to channels/<channel>/release.json, last. Layers that are not gzip are gzipped; the stored manifest then names the gzip blobs. Formats: docs/release-format.md and docs/artifact-store.md.

The summary (stderr; "bases" under --json) says, for the devices on each base, how many layer bytes they download against the whole image. stdout gets the location of the signed release.

An image reference that names a multi-platform index (and no --platform) makes a multi-platform release: every platform's image, each with deltas from the bases of its platform; each device installs the image of its own platform.

The release version must be greater than the channel's current one. Publishing the same version of the same image again does nothing and succeeds; another image under an existing version is refused.

With --store docker://<host>/<repo>, the images are pushed as normal images and the signed release as an OCI artifact tagged with the channel's name (credentials as for docker:// images: --authfile, docker's config.json).

With --store s3://<bucket>[/<prefix>], credentials come from the AWS SDK's default chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, instance roles); --endpoint-url selects an S3-compatible service.

Exit codes: 2 bad flags (channel name, version, expiry, endpoint URL, no region, --no-deltas with bases); 3 the key is not an Ed25519 private key, the path is not an OCI image layout, or the store URL is not supported; 4 the key file, the image tag or the S3 bucket does not exist; 5 a layer does not match its diffID; 6 the channel's current release has a bad signature by this key, or --key or --timestamp-key is not a key of --root; 7 the version is not newer than the channel's, or it exists with another image; 8 the S3 endpoint or registry cannot be reached or failed; 11 the S3 endpoint or registry refused the credentials; 13 the exec: signer failed, or answered with something that is not a signature by its key (nothing is published).`;

  static override examples = [
    '<%= config.bin %> release --image oci:./images/app:1.4 --channel stable --release-version 14 --key keys/release-key.pem --store file://./releases',
    '<%= config.bin %> release --image oci:./images/app:1.5 --channel stable --release-version 15 --key keys/release-key.pem --store ./releases --base oci:./images/app:1.3',
    '<%= config.bin %> release --image oci:./images/app:1.5 --channel beta --release-version 15 --key keys/release-key.pem --store file:///srv/prtiql --expires 30d --device-class pi4 --no-deltas --json',
    'AWS_PROFILE=releases <%= config.bin %> release --image oci:./images/app:1.6 --channel stable --release-version 16 --key keys/release-key.pem --store s3://my-bucket/prtiql --region eu-central-1',
    '<%= config.bin %> release --image oci:./images/app:1.6 --channel stable --release-version 16 --key keys/release-key.pem --store s3://releases --endpoint-url http://minio.local:9000',
    '<%= config.bin %> release --image docker://registry.local/app:1.7 --channel stable --release-version 17 --key env:RELEASE_KEY --store docker://registry.local/app --base-releases 3 --metadata-file release.json',
  ];

  static override flags = {
    image: Flags.string({
      description: 'Image to release: oci:<path>[:<tag>], docker-archive:<file>[:<repo>:<tag>] or docker://<host>/<repo>[:<tag>|@<digest>].',
      required: true,
    }),
    platform: Flags.string({ description: 'os/arch[/variant]: release only this image of a multi-platform index. [default: every platform of an index]' }),
    ...registryFlags,
    channel: Flags.string({ char: 'c', description: 'Channel name: lowercase letters, digits, . _ - (at most 64).', required: true }),
    'release-version': Flags.string({
      description: "The release's version: a positive integer, greater than the channel's current one (e.g. the CI run number).",
      required: true,
      aliases: ['version'],
      charAliases: ['v'],
      deprecateAliases: true,
    }),
    key: Flags.string({ char: 'k', description: 'Ed25519 private key (PKCS#8 PEM) that signs the release: a file, env:<NAME> to read it from an environment variable, or exec:<command>, an external signer (KMS, HSM) that never hands out the key (docs/SECURITY.md).', required: true }),
    ...storeFlags,
    expires: Flags.string({ description: 'When devices stop accepting the release: a duration (90d, 12h, 2w) or an RFC 3339 time.', default: DEFAULT_RELEASE_LIFETIME }),
    'device-class': Flags.string({ description: 'Only devices of this class accept the release.' }),
    root: Flags.string({ description: 'A trust root (root.json) to publish as roots/<version>.json before the release, so devices follow a key rotation; the --key must be one of its keys.' }),
    'timestamp-key': Flags.string({ description: 'Online Ed25519 key (file, env:<NAME> or exec:<command>) that signs channels/<channel>/timestamp.json for this release; needed when the trust root names timestamp keys.' }),
    'timestamp-expires': Flags.string({ description: 'When the timestamp expires: a duration or an RFC 3339 time.', default: DEFAULT_TIMESTAMP_LIFETIME }),
    base: Flags.string({
      description: 'An image devices may be running (repeatable): the release carries a delta from it, computed now or reused from `prtiql delta`.',
      multiple: true,
    }),
    'base-releases': Flags.integer({
      description: `Carry deltas from the images of the channel's N newest earlier releases, read back from the store (channels/<channel>/history.json); 0 for none. [default: ${DEFAULT_BASE_RELEASES}]`,
      min: 0,
    }),
    deltas: Flags.boolean({ description: 'Compute deltas from the channel\'s earlier releases; --no-deltas publishes full layers only (and refuses --base and --base-releases).', allowNo: true }),
    'max-memory': maxMemoryFlag,
  };

  protected async execute(): Promise<ReleaseOutput> {
    const { flags } = await this.parse(Release);
    if (flags.deltas === false && (flags.base !== undefined || flags['base-releases'] !== undefined)) {
      throw new PrtiqlError('E_USAGE', '--no-deltas releases without deltas: drop it, or drop --base and --base-releases');
    }
    const created = new Date();
    const channel = checkChannelName(flags.channel);
    const version = parseReleaseVersion(flags['release-version']);
    const expires = parseExpiry(flags.expires, created);
    const store = await openStoreFromFlags(flags.store, flags);
    const timestampExpires = parseExpiry(flags['timestamp-expires'], created);
    const signingKey = await loadSigner(flags.key);
    const timestampKey = flags['timestamp-key'] === undefined ? undefined : await loadSigner(flags['timestamp-key'], 'timestamp key');
    const root = flags.root === undefined ? undefined : await readTrustRootFile(flags.root);
    const imageOptions = { platform: sourcePlatformFrom(flags), registry: registryOptionsFrom(flags) };
    const images = await openPlatformImages(flags.image, imageOptions);
    const bases = [];
    const baseReferences = new Map<Digest, string>();
    for (const reference of flags.base ?? []) {
      for (const base of await openPlatformImages(reference, imageOptions)) {
        bases.push(base);
        baseReferences.set(base.manifestDigest, reference);
      }
    }

    const result = await publishRelease({
      image: images.length === 1 ? images[0] : images,
      store,
      channel,
      version,
      signingKey,
      created,
      expires,
      deviceClass: flags['device-class'],
      bases,
      baseReleases: flags.deltas === false ? 0 : (flags['base-releases'] ?? DEFAULT_BASE_RELEASES),
      maxMemory: flags['max-memory'],
      ...(root && { root }),
      ...(timestampKey && { timestamp: { key: timestampKey, expires: timestampExpires } }),
      progress: (label, total) => this.progress(label, total),
    });
    const output = releaseOutput(result, baseReferences);
    this.summarize(output, flags.deltas !== false);
    return output;
  }

  private summarize(output: ReleaseOutput, deltas: boolean): void {
    const { channel, version } = output;
    const released = output.images.length > 1 ? `index ${output.digest} (${output.images.map((image) => image.platform).join(', ')})` : output.digest;
    if (output.unchanged) {
      this.say(`channel ${channel} already has version ${version} of ${released}; nothing to do`);
      return;
    }
    this.say(`channel ${channel} is at version ${version}: ${released} (${output.blobsUploaded} blobs uploaded, ${output.blobsSkipped} already present)`);
    for (const image of output.images) {
      const fullBytes = image.layers.reduce((sum, layer) => sum + layer.sizeBytes, 0);
      const bases = output.bases.filter((base) => base.platform === image.platform);
      const where = output.images.length > 1 ? ` ${image.platform}` : '';
      if (bases.length === 0) {
        const why = deltas ? `no earlier${where} release of channel ${channel} to compute deltas from` : 'no deltas (--no-deltas)';
        this.say(`${why}: every${where} device downloads the whole image, ${fullBytes} bytes`);
      }
      for (const base of bases) {
        this.say(`devices on ${baseName(base)}${where} download ${base.downloadBytes} of ${base.fullBytes} bytes (${percent(base.downloadBytes, base.fullBytes)})`);
      }
    }
    if (output.trustRootVersion !== undefined) this.say(`trust root version ${output.trustRootVersion}: ${output.trustRootLocation}`);
    if (output.timestampLocation) this.say(`timestamp: ${output.timestampLocation}`);
  }

  protected resultLine(output: ReleaseOutput): string {
    return output.location;
  }
}
