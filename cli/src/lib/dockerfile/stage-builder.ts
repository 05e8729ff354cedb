import { isAbsolute, join, posix, resolve } from 'node:path';
import { pipeline, type Readable, type Writable } from 'node:stream';
import { lstatIfExists } from '../../../../filesystem/layer-view.js';
import { applyLayerDirectory } from '../../../../filesystem/rootfs.js';
import type { Digest } from '../../../../shared/digest.js';
import { isPrtiqlError, PrtiqlError } from '../../../../shared/errors.js';
import { configPlatform } from '../../../../shared/oci-json.js';
import { MediaType, type ContainerConfig, type Descriptor, type ImageConfig, type Platform } from '../../../../shared/oci.js';
import { directoryEntries } from '../build/directory-entries.js';
import { writeLayerBlob, type WrittenLayer } from '../build/write-layer-blob.js';
import { formatPlatform, hostPlatform, parsePlatform } from '../build/platform.js';
import { rfc3339 } from '../build/source-date-epoch.js';
import { CountingStream } from '../image/counting-stream.js';
import type { Image } from '../image/image.js';
import { uncompressedLayerStream } from '../image/layer-stream.js';
import type { OciLayout } from '../image/oci-layout.js';
import { openImage } from '../image/open-image.js';
import { parseImageReference, type ImageReference } from '../image/reference.js';
import type { RegistryOptions } from '../registry/registry-client.js';
import { entriesDigest, stepKey, type BuildCache, type CachedStep } from './build-cache.js';
import { commandLine, DEFAULT_SHELL, envMap, exposedPort, healthcheck, setEnv } from './config-instructions.js';
import { directoryChain, planCopy, type CopyLayer } from './copy-instruction.js';
import type { SourceTree } from './copy-sources.js';
import type { ContextFilter } from './dockerignore.js';
import { dockerfileError, parseDockerfile, type DockerfileInstruction, type DockerfileStage, type ParsedDockerfile } from './parse-dockerfile.js';
import { applyLayerTar, createRootDirectory } from './root-filesystem.js';
import { resolveInRoot } from './root-path.js';
import { runOnRoot } from './run-instruction.js';
import { expandWord, type Variables } from './word-expansion.js';

export interface StageBuildOptions {
  dockerfile: ParsedDockerfile;
  /** The build context directory. */
  context: string;
  contextFilter: ContextFilter;
  /** --build-arg values; the names an ARG consumed are added to `usedBuildArgs`. */
  buildArgs: ReadonlyMap<string, string>;
  usedBuildArgs: Set<string>;
  /** The platform the image is built for. */
  platform: Platform;
  /** Where the image's blobs are written. */
  layout: OciLayout;
  cache: BuildCache;
  noCache: boolean;
  /** Seconds since the epoch for every timestamp. */
  mtime: number;
  /** A private directory for root filesystems and temporary trees. */
  scratch: string;
  registry?: RegistryOptions;
  /** One line per step (and `CACHED` for reused ones). */
  log: (message: string) => void;
  /** Where RUN output goes; discarded when undefined. */
  runOutput?: Writable;
}

export interface BuiltLayer {
  descriptor: Descriptor;
  diffID: Digest;
  uncompressedSize: number;
}

type History = NonNullable<ImageConfig['history']>[number];

/** A stage while it is built and after: its root filesystem mirrors its layers. */
export interface StageState {
  root: string;
  platform: Platform;
  layers: BuiltLayer[];
  config: ContainerConfig;
  author?: string;
  history: History[];
  /** Cache key of the filesystem so far: the last step's key or the base image's. */
  chain: Digest;
  /** ARGs declared in the stage, with their values. */
  args: Map<string, string>;
  cmdSet: boolean;
}

const DOCKER_LAYER_TYPES: Readonly<Record<string, string>> = {
  [MediaType.dockerLayerGzip]: MediaType.layerGzip,
  'application/vnd.docker.image.rootfs.diff.tar': MediaType.layerTar,
};

function platformArgs(prefix: 'TARGET' | 'BUILD', platform: Platform): [string, string][] {
  return [
    [`${prefix}PLATFORM`, formatPlatform(platform)],
    [`${prefix}OS`, platform.os],
    [`${prefix}ARCH`, platform.architecture],
    [`${prefix}VARIANT`, platform.variant ?? ''],
  ];
}

function located(error: unknown, file: string, line: number): PrtiqlError {
  const message = (error as Error).message;
  if (message.startsWith(`${file}:`)) return error as PrtiqlError;
  return dockerfileError(isPrtiqlError(error) ? error.code : 'E_INTERNAL', file, line, message, error);
}

/**
 * Runs the stages of a Dockerfile in order: FROM, then each instruction, keeping a root
 * filesystem per stage that mirrors its layers (for RUN, COPY --from and --chown names).
 * Layer steps (RUN, COPY, ADD, WORKDIR creating a directory) are looked up in the build
 * cache by the key of their inputs first.
 */
export class StageBuilder {
  private readonly stages: StageState[] = [];
  private readonly globalArgs = new Map<string, string>();
  private readonly predefinedArgs: Map<string, string>;
  /** Root filesystems of images that COPY --from named, by reference. */
  private readonly imageRoots = new Map<string, string>();

  constructor(private readonly options: StageBuildOptions) {
    this.predefinedArgs = new Map([...platformArgs('TARGET', options.platform), ...platformArgs('BUILD', hostPlatform())]);
    const variables = new Map(this.predefinedArgs);
    for (const instruction of options.dockerfile.globalArgs) {
      try {
        for (const property of instruction.properties) {
          const value = this.buildArg(property.name) ?? (property.raw === null ? undefined : this.expand(property.raw, variables));
          if (value === undefined) continue;
          this.globalArgs.set(property.name, value);
          variables.set(property.name, value);
        }
      } catch (error) {
        throw located(error, this.file, instruction.line);
      }
    }
  }

  private get file(): string {
    return this.options.dockerfile.name;
  }

  private expand(word: string, variables: Variables): string {
    return expandWord(word, variables, this.options.dockerfile.escape);
  }

  private buildArg(name: string): string | undefined {
    const value = this.options.buildArgs.get(name);
    if (value !== undefined) this.options.usedBuildArgs.add(name);
    return value;
  }

  /** Runs one instruction; its errors name the Dockerfile and the line. */
  private async step<T>(instruction: DockerfileInstruction, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      throw located(error, this.file, instruction.line);
    }
  }

  private variables(state: StageState): Variables {
    return new Map([...state.args, ...envMap(state.config)]);
  }

  private flags(instruction: DockerfileInstruction, variables: Variables): Map<string, string> {
    const flags = new Map<string, string>();
    for (const flag of instruction.flags) {
      if (flag.value === null) throw new PrtiqlError('E_BAD_INPUT', `--${flag.name} needs a value`);
      flags.set(flag.name, this.expand(flag.value, variables));
    }
    return flags;
  }

  /** Builds stages 0..`target` and returns the target's state. */
  async build(target: number): Promise<StageState> {
    for (const stage of this.options.dockerfile.stages.slice(0, target + 1)) {
      const state = await this.step(stage.from, () => this.from(stage));
      this.stages.push(state);
      for (const instruction of stage.instructions) await this.step(instruction, () => this.dispatch(state, instruction));
    }
    return this.stages[target];
  }

  private historyEntry(createdBy: string, emptyLayer: boolean): History {
    return { created: rfc3339(this.options.mtime), created_by: createdBy, ...(emptyLayer && { empty_layer: true }) };
  }

  private async from(stage: DockerfileStage): Promise<StageState> {
    const variables = new Map([...this.predefinedArgs, ...this.globalArgs]);
    const flags = this.flags(stage.from, variables);
    const name = this.expand(stage.from.words[0], variables);
    const platformFlag = flags.get('platform');
    const platform = platformFlag ? parsePlatform(platformFlag) : this.options.platform;
    const root = join(this.options.scratch, `stage-${stage.index}`);
    await createRootDirectory(root);
    this.options.log(`${this.file}:${stage.from.line}: FROM ${name}`);
    const earlier = this.stages.find((_, index) => this.options.dockerfile.stages[index].name === name.toLowerCase());
    if (earlier) {
      await applyLayerDirectory(earlier.root, root, new Map());
      return { ...structuredClone(earlier), root, args: new Map(), cmdSet: false };
    }
    const base: StageState = { root, platform, layers: [], config: {}, history: [], chain: stepKey({ scratch: formatPlatform(platform) }), args: new Map(), cmdSet: false };
    if (name === 'scratch') return base;
    const image = await this.openBaseImage(name, platform);
    for (const layer of image.layers) base.layers.push(await this.addBaseLayer(layer, root));
    const { config } = image;
    const state: StageState = {
      ...base,
      config: structuredClone(config.config ?? {}),
      history: structuredClone(config.history ?? []),
      chain: stepKey({ image: image.manifestDigest }),
      ...(config.author !== undefined && { author: config.author }),
    };
    const triggers = state.config.OnBuild ?? [];
    delete state.config.OnBuild;
    if (triggers.length > 0) {
      const parsed = parseDockerfile(['FROM scratch', ...triggers].join('\n'), `${this.file}:${stage.from.line}: ONBUILD of ${name}`);
      for (const trigger of parsed.stages[0].instructions) await this.dispatch(state, trigger);
    }
    return state;
  }

  private imageReference(text: string): ImageReference {
    const known = ['oci:', 'docker-archive:', 'docker://'].some((prefix) => text.startsWith(prefix));
    const reference = parseImageReference(known ? text : `docker://${text}`);
    if (reference.transport !== 'docker' && !isAbsolute(reference.path)) return { ...reference, path: resolve(this.options.context, reference.path) };
    return reference;
  }

  private async openBaseImage(name: string, platform: Platform): Promise<Image> {
    const image = await openImage(this.imageReference(name), { platform, registry: this.options.registry });
    const actual = configPlatform(image.config);
    if (actual.os !== platform.os || actual.architecture !== platform.architecture || (platform.variant && actual.variant && actual.variant !== platform.variant)) {
      throw new PrtiqlError('E_NOT_FOUND', `${name} is an image for ${formatPlatform(actual)}, not ${formatPlatform(platform)}`);
    }
    return image;
  }

  /** Copies a base image layer into the output layout and applies it to `root`. */
  private async addBaseLayer(layer: Image['layers'][number], root: string): Promise<BuiltLayer> {
    const source = layer.descriptor;
    const descriptor: Descriptor = { mediaType: DOCKER_LAYER_TYPES[source.mediaType] ?? source.mediaType, digest: source.digest, size: source.size };
    const { layout } = this.options;
    if (!(await layout.hasBlob(descriptor.digest))) {
      const written = await layout.writeBlob(await layer.openCompressed(), descriptor.mediaType);
      if (written.digest !== descriptor.digest) throw new PrtiqlError('E_DIGEST_MISMATCH', `layer ${descriptor.digest} arrived as ${written.digest}`);
    }
    const counting = new CountingStream();
    const tar: Readable = pipeline(uncompressedLayerStream(source, layer.diffID, await layout.openBlob(descriptor)), counting, () => undefined);
    await applyLayerTar(tar, layer.diffID, root, this.options.scratch);
    return { descriptor, diffID: layer.diffID, uncompressedSize: counting.counter.size };
  }

  private async dispatch(state: StageState, instruction: DockerfileInstruction): Promise<void> {
    const variables = this.variables(state);
    const expand = (word: string) => this.expand(word, variables);
    const flags = this.flags(instruction, variables);
    const { config } = state;
    const metadata = (createdBy = `${instruction.keyword} ${instruction.content}`) => {
      state.history.push(this.historyEntry(createdBy, true));
      this.options.log(`${this.file}:${instruction.line}: ${createdBy}`);
    };
    switch (instruction.keyword) {
      case 'ARG':
        for (const property of instruction.properties) {
          const value = this.buildArg(property.name)
            ?? (property.raw === null ? (this.globalArgs.get(property.name) ?? this.predefinedArgs.get(property.name)) : expand(property.raw));
          if (value !== undefined) state.args.set(property.name, value);
        }
        return;
      case 'ENV':
        if (instruction.properties.length === 0) throw new PrtiqlError('E_BAD_INPUT', 'ENV needs NAME=value');
        for (const property of instruction.properties) {
          if (property.raw === null) throw new PrtiqlError('E_BAD_INPUT', `ENV ${property.name} needs a value`);
          setEnv(config, property.name, expand(property.raw));
        }
        return metadata();
      case 'LABEL':
        if (instruction.properties.length === 0) throw new PrtiqlError('E_BAD_INPUT', 'LABEL needs key=value');
        config.Labels = { ...config.Labels };
        for (const property of instruction.properties) config.Labels[property.name] = expand(property.raw ?? '');
        return metadata();
      case 'EXPOSE':
        config.ExposedPorts = { ...config.ExposedPorts };
        for (const word of instruction.words) config.ExposedPorts[exposedPort(expand(word))] = {};
        return metadata();
      case 'VOLUME':
        config.Volumes = { ...config.Volumes };
        for (const path of instruction.execForm ?? instruction.words.map(expand)) config.Volumes[path] = {};
        return metadata();
      case 'USER':
        config.User = expand(instruction.content.trim());
        return metadata();
      case 'STOPSIGNAL':
        config.StopSignal = expand(instruction.content.trim());
        return metadata();
      case 'MAINTAINER':
        state.author = instruction.content.trim();
        return metadata();
      case 'ONBUILD':
        config.OnBuild = [...(config.OnBuild ?? []), instruction.content.trim()];
        return metadata();
      case 'SHELL':
        if (!instruction.execForm || instruction.execForm.length === 0) throw new PrtiqlError('E_BAD_INPUT', 'SHELL needs a JSON array, e.g. ["/bin/bash", "-c"]');
        config.Shell = instruction.execForm;
        return metadata();
      case 'CMD':
        config.Cmd = commandLine(instruction, config.Shell ?? DEFAULT_SHELL);
        state.cmdSet = true;
        return metadata();
      case 'ENTRYPOINT':
        config.Entrypoint = commandLine(instruction, config.Shell ?? DEFAULT_SHELL);
        if (!state.cmdSet) delete config.Cmd;
        return metadata();
      case 'HEALTHCHECK':
        config.Healthcheck = healthcheck(instruction, flags);
        return metadata();
      case 'WORKDIR':
        return this.workdir(state, instruction, expand(instruction.content.trim()));
      case 'RUN':
        return this.run(state, instruction, flags);
      case 'COPY':
      case 'ADD':
        return this.copy(state, instruction, flags, expand);
      default:
        throw new PrtiqlError('E_BAD_INPUT', `${instruction.keyword} is not allowed here`);
    }
  }

  /**
   * A step that may add a layer: reused from the cache when its key is known (`CACHED` in
   * the log), else produced, stored in the cache, and applied to the stage's root.
   */
  private async layerStep(state: StageState, instruction: DockerfileInstruction, createdBy: string, inputs: unknown, produce: () => Promise<CopyLayer>): Promise<void> {
    const { cache } = this.options;
    const key = stepKey({ parent: state.chain, platform: formatPlatform(state.platform), inputs });
    let step: CachedStep | undefined = this.options.noCache ? undefined : await cache.get(key);
    if (step) {
      this.options.log(`${this.file}:${instruction.line}: CACHED ${createdBy}`);
    } else {
      this.options.log(`${this.file}:${instruction.line}: ${createdBy}`);
      const produced = await produce();
      try {
        step = { layer: produced.entries.length > 0 ? await writeLayerBlob(cache.layout, produced.entries, this.options.mtime) : null };
      } finally {
        await produced.dispose();
      }
      await cache.put(key, step);
    }
    if (step.layer) state.layers.push(await this.addLayer(step.layer, state.root));
    state.history.push(this.historyEntry(createdBy, step.layer === null));
    state.chain = key;
  }

  private async addLayer(layer: WrittenLayer, root: string): Promise<BuiltLayer> {
    const { cache, layout } = this.options;
    const { descriptor, diffID, size } = layer;
    if (!(await layout.hasBlob(descriptor.digest))) await layout.writeBlob(await cache.layout.openBlob(descriptor), descriptor.mediaType);
    await applyLayerTar(uncompressedLayerStream(descriptor, diffID, await cache.layout.openBlob(descriptor)), diffID, root, this.options.scratch, size);
    return { descriptor, diffID, uncompressedSize: size };
  }

  /** WORKDIR sets the working directory and creates it (a layer) when it does not exist. */
  private async workdir(state: StageState, instruction: DockerfileInstruction, path: string): Promise<void> {
    if (path === '') throw new PrtiqlError('E_BAD_INPUT', 'WORKDIR needs a path');
    const workdir = posix.resolve(state.config.WorkingDir || '/', path);
    state.config.WorkingDir = workdir;
    const createdBy = `WORKDIR ${workdir}`;
    const directory = await resolveInRoot(state.root, workdir);
    if ((await lstatIfExists(join(state.root, directory)))?.isDirectory()) {
      state.history.push(this.historyEntry(createdBy, true));
      return;
    }
    const entries = await directoryChain(state.root, directory, { uid: 0, gid: 0 });
    await this.layerStep(state, instruction, createdBy, { workdir: await entriesDigest(entries) }, async () => ({ entries, dispose: async () => undefined }));
  }

  private async run(state: StageState, instruction: DockerfileInstruction, flags: ReadonlyMap<string, string>): Promise<void> {
    const networkFlag = flags.get('network') ?? 'default';
    if (!['default', 'host', 'none'].includes(networkFlag)) throw new PrtiqlError('E_BAD_INPUT', `RUN --network=${networkFlag}: use default, host or none`);
    const network = networkFlag === 'none' ? 'none' : 'host';
    const args = commandLine(instruction, state.config.Shell ?? DEFAULT_SHELL);
    const env = new Map([...state.args, ...envMap(state.config)]);
    const command = {
      args,
      env: [...env].map(([name, value]) => `${name}=${value}`),
      user: state.config.User ?? '',
      workdir: state.config.WorkingDir || '/',
      network,
      platform: state.platform,
    } as const;
    const createdBy = `RUN ${instruction.execForm ? JSON.stringify(args) : args.join(' ')}`;
    await this.layerStep(state, instruction, createdBy, { run: { ...command, platform: undefined } }, async () => {
      const changes = await runOnRoot(state.root, command, this.options.scratch, this.options.runOutput);
      try {
        return { entries: await directoryEntries(changes.layerDirectory, 'keep'), dispose: changes.dispose };
      } catch (error) {
        await changes.dispose();
        throw error;
      }
    });
  }

  private async copy(state: StageState, instruction: DockerfileInstruction, flags: ReadonlyMap<string, string>, expand: (word: string) => string): Promise<void> {
    const add = instruction.keyword === 'ADD';
    const words = instruction.execForm ?? instruction.words.map(expand);
    if (words.length < 2) throw new PrtiqlError('E_BAD_INPUT', `${instruction.keyword} needs at least one source and a destination`);
    const sources = words.slice(0, -1);
    const destination = words.at(-1)!;
    const from = flags.get('from');
    const tree = from === undefined ? this.contextTree() : await this.stageTree(from, state.platform);
    const plan = await planCopy({
      add,
      sources,
      destination: posix.isAbsolute(destination) ? destination : `${posix.join(state.config.WorkingDir || '/', destination)}${destination.endsWith('/') ? '/' : ''}`,
      tree,
      root: state.root,
      chown: flags.get('chown'),
      chmod: flags.get('chmod'),
    });
    try {
      const flagText = [...flags].map(([name, value]) => `--${name}=${value} `).join('');
      const createdBy = `${instruction.keyword} ${flagText}${words.join(' ')}`;
      await this.layerStep(state, instruction, createdBy, { copy: await entriesDigest(plan.entries) }, async () => ({ entries: plan.entries, dispose: async () => undefined }));
    } finally {
      await plan.dispose();
    }
  }

  private contextTree(): SourceTree {
    return { root: this.options.context, description: 'the build context', filter: this.options.contextFilter, owner: { uid: 0, gid: 0 } };
  }

  /** COPY --from: an earlier stage by name or number, else an image reference (unpacked once per build). */
  private async stageTree(from: string, platform: Platform): Promise<SourceTree> {
    const stages = this.options.dockerfile.stages;
    const index = /^[0-9]+$/.test(from) ? Number(from) : stages.findIndex((stage) => stage.name === from.toLowerCase());
    if (index >= 0 && index < this.stages.length - 1) {
      return { root: this.stages[index].root, description: `stage ${from}`, filter: () => true, owner: 'keep' };
    }
    if (index >= 0) throw new PrtiqlError('E_BAD_INPUT', `--from=${from} names this stage or a later one`);
    let root = this.imageRoots.get(from);
    if (root === undefined) {
      const image = await this.openBaseImage(from, platform);
      root = join(this.options.scratch, `image-${this.imageRoots.size}`);
      await createRootDirectory(root);
      for (const layer of image.layers) await this.addBaseLayer(layer, root);
      this.imageRoots.set(from, root);
    }
    return { root, description: `image ${from}`, filter: () => true, owner: 'keep' };
  }
}

/** Writes the config and manifest of a built stage into `layout`. */
export async function writeStageImage(state: StageState, layout: OciLayout, mtime: number): Promise<{ manifest: Descriptor; config: Descriptor }> {
  const { platform } = state;
  const imageConfig: ImageConfig = {
    created: rfc3339(mtime),
    ...(state.author !== undefined && { author: state.author }),
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant && { variant: platform.variant }),
    config: state.config,
    rootfs: { type: 'layers', diff_ids: state.layers.map((layer) => layer.diffID) },
    history: state.history,
  };
  const config = await layout.writeBlob(Buffer.from(JSON.stringify(imageConfig)), MediaType.imageConfig);
  const manifest = await layout.writeBlob(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.imageManifest, config, layers: state.layers.map((layer) => layer.descriptor) })),
    MediaType.imageManifest,
  );
  return { manifest, config };
}

