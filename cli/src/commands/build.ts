import { Args, Flags } from '@oclif/core';
import { PrtiqlError } from '../../../shared/errors.js';
import { BaseCommand, type FlagsOf } from '../base-command.js';
import { buildImage, type BuildResult } from '../lib/build/build-image.js';
import { readBuildSpec, type BuildSpec } from '../lib/build/build-spec.js';
import { formatPlatform, parsePlatform } from '../lib/build/platform.js';
import { applySettings, parseCommandLine, parseKeyValues } from '../lib/build/settings-flags.js';
import { defaultCacheDirectory } from '../lib/dockerfile/build-cache.js';
import { buildDockerfile, type MultiPlatformBuildResult } from '../lib/dockerfile/build-dockerfile.js';
import { buildFileKind } from '../lib/dockerfile/build-file-kind.js';
import { outputReference, type ImageReference } from '../lib/image/reference.js';
import { registryFlags, registryOptionsFrom } from '../registry-flags.js';
import { buildOutput, type BuildOutput } from '../results/build-result.js';

/** What a --tag holding ':' or '/' most likely meant: the part after the last of them. */
function tagWarning(tag: string): string | undefined {
  const meant = tag.split(/[:/]/).pop();
  if (meant === tag) return undefined;
  return `--tag ${tag} makes a tag literally named "${tag}": --tag is the tag alone, the image's name and place come from --output. Did you mean --tag ${meant || 'latest'}?`;
}

export default class Build extends BaseCommand<BuildOutput> {
  static override summary = 'Build a reproducible OCI image from a directory, a build spec or a Dockerfile.';

  static override description = `With DIRECTORY alone, its contents become the image's only layer. With --file, a JSON build spec (docs/build-spec.md) lists several layers (directories or tar files) and the config; flags given with --file override the spec (env and labels are merged, flags win).

With --file naming a Dockerfile and DIRECTORY as the build context, the Dockerfile is built (docs/dockerfile.md): multi-stage, RUN with runc, a layer cache (--no-cache, --cache-dir), --build-arg, --target, and --platform with several platforms separated by commas for an OCI image index. --file names a build spec when it ends in .json or starts with '{', a Dockerfile otherwise. Dockerfile builds need root.

The image is written into the OCI image layout named by --output and tagged there (index.json annotation org.opencontainers.image.ref.name); other tags in the layout are kept. The tag comes from --tag or from the :<tag> of --output. If both are given they must be equal (else exit 2); if neither, the tag is "latest". A --tag holding ':' or '/' (like app:1) is allowed in a layout but almost always a mistake: it gets a warning. stdout gets <reference>@<digest> of the image written. --output may also name a registry (docker://<host>/<repo>[:<tag>], pushed like prtiql push) or a docker save archive (docker-archive:<file>[:<repo>:<tag>]); see docs/image-references.md.

Layers are reproducible: sorted entries, every mtime and the config's created time from SOURCE_DATE_EPOCH (default 0), owners 0:0, permission bits kept, gzip level 9. The same input gives the same manifest digest.

Exit codes: 2 bad flags; 3 the path is not a directory, holds a socket or device, or the spec or Dockerfile is invalid; 4 the path, a COPY source or a FROM image does not exist; 8 the registry cannot be reached; 11 the registry refused the credentials; 125 a RUN failed or cannot run here.`;

  static override examples = [
    '<%= config.bin %> build ./rootfs --output oci:./images/app:1.0 --entrypoint \'["/bin/app","--serve"]\' --env MODE=prod',
    '<%= config.bin %> build ./rootfs --tag 1.0 --output oci:./images/app --platform linux/arm/v7',
    'SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) <%= config.bin %> build --file build.json --output oci:./images/app:1.0 --json',
    '<%= config.bin %> build ./rootfs --output docker://registry.local:5000/app:1.0 --insecure',
    '<%= config.bin %> build -f Dockerfile . --tag 1.0 --output oci:./images/app --build-arg VERSION=1.0',
    '<%= config.bin %> build -f Dockerfile . --platform linux/amd64,linux/arm64 --output oci:./images/app:1.0',
  ];

  static override args = {
    directory: Args.string({ description: 'Directory whose contents become the single layer (omit with a build spec); with a Dockerfile, the build context.' }),
  };

  static override flags = {
    file: Flags.string({ char: 'f', description: 'A JSON build spec (*.json, docs/build-spec.md) or a Dockerfile (docs/dockerfile.md).' }),
    output: Flags.string({
      char: 'o',
      description: 'Where to write the image: oci:<path>[:<tag>], docker://<host>/<repo>[:<tag>] or docker-archive:<file>[:<repo>:<tag>].',
      required: true,
    }),
    tag: Flags.string({ char: 't', description: 'Tag of the image in the layout or registry; must equal the :<tag> of --output if that has one.' }),
    platform: Flags.string({ description: 'Target os/arch[/variant]; with a Dockerfile, several separated by commas. [default: linux/<arch of this Node>]' }),
    entrypoint: Flags.string({ description: 'Entrypoint: a JSON array of strings or a single string.' }),
    cmd: Flags.string({ description: 'Default arguments: a JSON array of strings or a single string.' }),
    env: Flags.string({ description: 'KEY=VALUE environment variable (repeatable).', multiple: true }),
    workdir: Flags.string({ description: 'Working directory of the container process.' }),
    user: Flags.string({ description: 'User (and group) of the container process, e.g. 1000:1000.' }),
    label: Flags.string({ description: 'KEY=VALUE image label (repeatable).', multiple: true }),
    'build-arg': Flags.string({ description: 'Dockerfile: KEY=VALUE for an ARG (repeatable).', multiple: true }),
    target: Flags.string({ description: 'Dockerfile: the stage to build, by name or number. [default: the last]' }),
    'no-cache': Flags.boolean({ description: 'Dockerfile: run every step again instead of reusing cached layers.' }),
    'cache-dir': Flags.string({ description: 'Dockerfile: the layer cache. [default: PRTIQL_CACHE_DIR, else ~/.cache/prtiql/build]' }),
    ...registryFlags,
  };

  protected async execute(): Promise<BuildOutput> {
    const { args, flags } = await this.parse(Build);
    const output = outputReference(flags.output, flags.tag);
    const warning = flags.tag === undefined ? undefined : tagWarning(flags.tag);
    if (warning) this.warn(warning);
    if (flags.file && (await buildFileKind(flags.file)) === 'dockerfile') return buildOutput(await this.buildDockerfile(flags, flags.file, args.directory, output));
    const dockerfileOnly = ['build-arg', 'target', 'no-cache', 'cache-dir'].filter((name) => flags[name as keyof typeof flags] !== undefined);
    if (dockerfileOnly.length > 0) throw new PrtiqlError('E_USAGE', `--${dockerfileOnly[0]} applies to Dockerfile builds only`);
    if (Boolean(args.directory) === Boolean(flags.file)) {
      throw new PrtiqlError('E_USAGE', 'give either a DIRECTORY or --file <spec.json>, or --file <Dockerfile> with the build context DIRECTORY');
    }
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
    return buildOutput(result);
  }

  protected resultLine(output: BuildOutput): string {
    return output.reference;
  }

  private async buildDockerfile(flags: FlagsOf<typeof Build>, dockerfile: string, context: string | undefined, output: ImageReference): Promise<BuildResult | MultiPlatformBuildResult> {
    if (!context) throw new PrtiqlError('E_USAGE', `give the build context DIRECTORY with --file ${dockerfile}, e.g. prtiql build -f ${dockerfile} .`);
    const settings = ['entrypoint', 'cmd', 'env', 'label', 'workdir', 'user'].filter((name) => flags[name as keyof typeof flags] !== undefined);
    if (settings.length > 0) throw new PrtiqlError('E_USAGE', `--${settings[0]} does not apply to Dockerfile builds: say it in the Dockerfile`);
    const result = await buildDockerfile(output, {
      dockerfile,
      context,
      platforms: flags.platform?.split(',').map((platform) => parsePlatform(platform.trim())),
      buildArgs: new Map(Object.entries(parseKeyValues(flags['build-arg'] ?? [], '--build-arg'))),
      target: flags.target,
      noCache: flags['no-cache'],
      cacheDirectory: flags['cache-dir'] ?? defaultCacheDirectory(),
      registry: registryOptionsFrom(flags),
      progress: (label, total) => this.progress(label, total),
      log: (message) => this.say(message),
      runOutput: this.quiet ? undefined : process.stderr,
    });
    if ('index' in result) this.say(`${result.reference} ${result.index.digest} (${result.images.map((image) => formatPlatform(image.platform)).join(', ')})`);
    else this.say(`${result.reference} ${result.manifest.digest} (${formatPlatform(result.platform)})`);
    return result;
  }
}
