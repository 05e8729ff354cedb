import { Args, Flags } from '@oclif/core';
import { PrtiqlError } from '../../../shared/errors.js';
import { BaseCommand } from '../base-command.js';
import { buildImage, type BuildResult } from '../lib/build/build-image.js';
import { readBuildSpec, type BuildSpec } from '../lib/build/build-spec.js';
import { formatPlatform, parsePlatform } from '../lib/build/platform.js';
import { applySettings, parseCommandLine, parseKeyValues } from '../lib/build/settings-flags.js';
import { outputReference } from '../lib/image/reference.js';
import { registryFlags, registryOptionsFrom } from '../registry-flags.js';

export default class Build extends BaseCommand {
  static override summary = 'Build a reproducible OCI image from a directory or a build spec.';

  static override description = `With DIRECTORY, its contents become the image's only layer. With --file, a JSON build spec (docs/build-spec.md) lists several layers (directories or tar files) and the config; flags given with --file override the spec (env and labels are merged, flags win).

The image is written into the OCI image layout named by --output and tagged there (index.json annotation org.opencontainers.image.ref.name); other tags in the layout are kept. The tag comes from --tag or from the :<tag> of --output. If both are given they must be equal (else exit 2); if neither, the tag is "latest". --output may also name a registry (docker://<host>/<repo>[:<tag>], pushed like prtiql push) or a docker save archive (docker-archive:<file>[:<repo>:<tag>]); see docs/image-references.md.

Layers are reproducible: sorted entries, every mtime and the config's created time from SOURCE_DATE_EPOCH (default 0), owners 0:0, permission bits kept, gzip level 9. The same input gives the same manifest digest.

Exit codes: 2 bad flags; 3 the path is not a directory, holds a socket or device, or the spec is invalid; 4 the path does not exist; 8 the registry cannot be reached; 11 the registry refused the credentials.`;

  static override examples = [
    '<%= config.bin %> build ./rootfs --output oci:./images/app:1.0 --entrypoint \'["/bin/app","--serve"]\' --env MODE=prod',
    '<%= config.bin %> build ./rootfs --tag 1.0 --output oci:./images/app --platform linux/arm/v7',
    'SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) <%= config.bin %> build --file build.json --output oci:./images/app:1.0 --json',
    '<%= config.bin %> build ./rootfs --output docker://registry.local:5000/app:1.0 --insecure',
  ];

  static override args = {
    directory: Args.string({ description: 'Directory whose contents become the single layer (omit with --file).' }),
  };

  static override flags = {
    file: Flags.string({ char: 'f', description: 'JSON build spec with several layers (docs/build-spec.md).' }),
    output: Flags.string({
      char: 'o',
      description: 'Where to write the image: oci:<path>[:<tag>], docker://<host>/<repo>[:<tag>] or docker-archive:<file>[:<repo>:<tag>].',
      required: true,
    }),
    tag: Flags.string({ char: 't', description: 'Tag of the image in the layout or registry; must equal the :<tag> of --output if that has one.' }),
    platform: Flags.string({ description: 'Target os/arch[/variant]. [default: linux/<arch of this Node>]' }),
    entrypoint: Flags.string({ description: 'Entrypoint: a JSON array of strings or a single string.' }),
    cmd: Flags.string({ description: 'Default arguments: a JSON array of strings or a single string.' }),
    env: Flags.string({ description: 'KEY=VALUE environment variable (repeatable).', multiple: true }),
    workdir: Flags.string({ description: 'Working directory of the container process.' }),
    user: Flags.string({ description: 'User (and group) of the container process, e.g. 1000:1000.' }),
    label: Flags.string({ description: 'KEY=VALUE image label (repeatable).', multiple: true }),
    ...registryFlags,
  };

  async run(): Promise<BuildResult> {
    const { args, flags } = await this.parse(Build);
    if (Boolean(args.directory) === Boolean(flags.file)) {
      throw new PrtiqlError('E_USAGE', 'give either a DIRECTORY or --file <spec.json>');
    }
    const output = outputReference(flags.output, flags.tag);
    const base: BuildSpec = flags.file ? await readBuildSpec(flags.file) : { layers: [{ directory: args.directory! }] };
    const spec = applySettings(base, {
      entrypoint: flags.entrypoint === undefined ? undefined : parseCommandLine(flags.entrypoint, '--entrypoint'),
      cmd: flags.cmd === undefined ? undefined : parseCommandLine(flags.cmd, '--cmd'),
      env: flags.env && parseKeyValues(flags.env, '--env'),
      labels: flags.label && parseKeyValues(flags.label, '--label'),
      workdir: flags.workdir,
      user: flags.user,
    });
    if (flags.platform) spec.platform = parsePlatform(flags.platform);

    const result = await buildImage(spec, output, {
      onLayer: (index, layer) => this.say(`layer ${index + 1}: ${layer.descriptor.digest} (${layer.descriptor.size} bytes)`),
      registry: registryOptionsFrom(flags),
      progress: (label, total) => this.progress(label, total),
    });
    this.say(`${result.reference} ${result.manifest.digest} (${formatPlatform(result.platform)})`);
    return result;
  }
}
