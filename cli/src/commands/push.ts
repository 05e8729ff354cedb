import { Args } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { copyImage } from '../lib/image/copy-image.js';
import { registryFlags, registryOptionsFrom, sourcePlatformFlag, sourcePlatformFrom } from '../registry-flags.js';
import { copyOutput, type CopyOutput } from '../results/copy-result.js';

export default class Push extends BaseCommand<CopyOutput> {
  static override summary = 'Push an image to a registry.';

  static override description = `Uploads every layer blob, then the config, and the manifest last, byte for byte (its digest is kept). Blobs the repository already holds are skipped after a HEAD request; layers that come from another repository of the same registry are mounted instead of uploaded. Blobs are streamed: one PUT up to 64 MiB, chunked PATCH requests above. stdout gets <destination>@<digest>.

Credentials come from --authfile, REGISTRY_AUTH_FILE, or docker's config.json (auths, credHelpers, credsStore). References: docs/image-references.md.

Exit codes: 2 bad flags; 3 a malformed reference, or the source is no image; 4 the source or its tag does not exist; 5 a blob does not match its digest; 8 the registry cannot be reached; 11 the registry refused the credentials or the push.`;

  static override examples = [
    '<%= config.bin %> push oci:./images/app:1.4 docker://ghcr.io/acme/app:1.4',
    '<%= config.bin %> push docker-archive:app.tar docker://registry.local:5000/app:1.4 --insecure --authfile ./auth.json',
    '<%= config.bin %> push docker://ghcr.io/acme/app:1.4 docker://ghcr.io/acme/app-stable:1.4 --json',
  ];

  static override args = {
    source: Args.string({ description: 'Image to push: oci:<path>[:<tag>], docker-archive:<file>[:<repo>:<tag>] or docker://...', required: true }),
    destination: Args.string({ description: 'Where to push it: docker://<host>/<repo>[:<tag>] (oci: and docker-archive: work too).', required: true }),
  };

  static override flags = {
    platform: sourcePlatformFlag,
    ...registryFlags,
  };

  protected async execute(): Promise<CopyOutput> {
    const { args, flags } = await this.parse(Push);
    const result = await copyImage(args.source, args.destination, {
      platform: sourcePlatformFrom(flags),
      registry: registryOptionsFrom(flags),
      progress: (label, total) => this.progress(label, total),
    });
    const { written, skipped, mounted } = result.blobs;
    this.say(`${result.reference} ${result.manifestDigest} (${written} blobs uploaded, ${skipped} already present, ${mounted} mounted)`);
    return copyOutput(result);
  }

  protected resultLine(output: CopyOutput): string {
    return output.reference;
  }
}
