import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { copyImage } from '../lib/image/copy-image.js';
import { registryFlags, registryOptionsFrom, sourcePlatformFlag, sourcePlatformFrom } from '../registry-flags.js';
import { copyOutput, type CopyOutput } from '../results/copy-result.js';

export default class Pull extends BaseCommand<CopyOutput> {
  static override summary = 'Pull an image from a registry into an OCI layout or a docker archive.';

  static override description = `Reads one image through the OCI distribution API and writes it to --output. From a multi-platform index, --platform chooses the image (default: the index's only image, else linux/<arch of this Node>). The manifest is copied byte for byte, so its digest stays the same in an OCI layout. Layers are streamed and checked against their digests; blobs the layout already holds are not fetched. stdout gets <output>@<digest>.

Credentials come from --authfile, REGISTRY_AUTH_FILE, or docker's config.json (auths, credHelpers, credsStore). References: docs/image-references.md.

Exit codes: 2 bad flags; 3 a malformed reference or platform; 4 the repository, tag or platform does not exist; 5 a blob does not match its digest; 8 the registry cannot be reached; 11 the registry refused the credentials.`;

  static override examples = [
    '<%= config.bin %> pull docker://ghcr.io/acme/app:1.4 --output oci:./images/app:1.4',
    '<%= config.bin %> pull docker://registry.local:5000/app@sha256:<hex> --output oci:./images/app:pinned --insecure',
    '<%= config.bin %> pull docker://docker.io/library/alpine:3.20 --platform linux/arm/v7 --output docker-archive:alpine.tar:alpine:3.20 --json',
  ];

  static override args = {
    source: Args.string({ description: 'Image to pull: docker://<host>/<repo>[:<tag>|@<digest>] (oci: and docker-archive: work too).', required: true }),
  };

  static override flags = {
    output: Flags.string({ char: 'o', description: 'Where to write it: oci:<path>[:<tag>], docker-archive:<file>[:<repo>:<tag>] or docker://...', required: true }),
    platform: sourcePlatformFlag,
    ...registryFlags,
  };

  protected async execute(): Promise<CopyOutput> {
    const { args, flags } = await this.parse(Pull);
    const result = await copyImage(args.source, flags.output, {
      platform: sourcePlatformFrom(flags),
      registry: registryOptionsFrom(flags),
      progress: (label, total) => this.progress(label, total),
    });
    this.say(`${result.reference} ${result.manifestDigest} (${result.platform}; ${result.blobs.written} blobs copied, ${result.blobs.skipped} already present)`);
    return copyOutput(result);
  }

  protected resultLine(output: CopyOutput): string {
    return output.reference;
  }
}
