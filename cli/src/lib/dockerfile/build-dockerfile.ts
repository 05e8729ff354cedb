import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Writable } from 'node:stream';
import { PrtiqlError } from '../../../../shared/errors.js';
import { MediaType, type Descriptor, type ImageIndex, type Platform } from '../../../../shared/oci.js';
import type { ProgressFactory } from '../../progress.js';
import type { BuildResult } from '../build/build-image.js';
import { checkDirectory } from '../build/directory-entries.js';
import { formatPlatform, hostPlatform } from '../build/platform.js';
import { sourceDateEpoch } from '../build/source-date-epoch.js';
import { OciLayout } from '../image/oci-layout.js';
import { openImage } from '../image/open-image.js';
import { DEFAULT_TAG, formatImageReference, type ImageReference } from '../image/reference.js';
import { writeImage } from '../image/write-image.js';
import type { RegistryOptions } from '../registry/registry-client.js';
import { BuildCache } from './build-cache.js';
import { readDockerignore } from './dockerignore.js';
import { parseDockerfile, type ParsedDockerfile } from './parse-dockerfile.js';
import { StageBuilder, writeStageImage } from './stage-builder.js';
import { readFileCapped } from '../../../../shared/capped-read.js';

const MAX_DOCKERFILE_BYTES = 1024 * 1024;

export interface DockerfileBuildOptions {
  dockerfile: string;
  /** The build context directory: COPY and ADD read from it, .dockerignore filters it. */
  context: string;
  /** One image per platform; several make an OCI image index. Default: this host's. */
  platforms?: Platform[];
  buildArgs?: ReadonlyMap<string, string>;
  /** The stage to build (name or number); default the last. */
  target?: string;
  /** Build every step anew (results are still stored in the cache). */
  noCache?: boolean;
  cacheDirectory: string;
  /** Seconds since the epoch for every timestamp; defaults to SOURCE_DATE_EPOCH, else 0. */
  mtime?: number;
  registry?: RegistryOptions;
  progress?: ProgressFactory;
  /** Step lines, cache hits and warnings. */
  log?: (message: string) => void;
  /** Where RUN output goes; discarded when undefined. */
  runOutput?: Writable;
}

/** A build for several platforms: the index and one image per platform. */
export interface MultiPlatformBuildResult {
  reference: string;
  index: Descriptor;
  images: Omit<BuildResult, 'reference'>[];
}

async function readDockerfile(path: string): Promise<ParsedDockerfile> {
  let text: Buffer;
  try {
    text = await readFileCapped(path, MAX_DOCKERFILE_BYTES, `Dockerfile ${path}`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new PrtiqlError('E_NOT_FOUND', `Dockerfile ${path} does not exist`);
    throw error;
  }
  return parseDockerfile(text.toString('utf8'), basename(path));
}

function targetIndex(dockerfile: ParsedDockerfile, target: string | undefined): number {
  if (target === undefined) return dockerfile.stages.length - 1;
  const index = dockerfile.stages.findIndex((stage) => stage.name === target.toLowerCase() || String(stage.index) === target);
  if (index < 0) {
    const names = dockerfile.stages.map((stage) => stage.name ?? String(stage.index)).join(', ');
    throw new PrtiqlError('E_USAGE', `--target ${target}: ${dockerfile.name} has no such stage (stages: ${names})`);
  }
  return index;
}

function checkPlatforms(platforms: Platform[], output: ImageReference): void {
  const names = platforms.map(formatPlatform);
  if (new Set(names).size !== names.length) throw new PrtiqlError('E_USAGE', `--platform names a platform twice: ${names.join(',')}`);
  if (platforms.length > 1 && output.transport !== 'oci') {
    throw new PrtiqlError('E_USAGE', 'an image for several platforms (an OCI index) can only be written to an oci:<path>[:<tag>] output');
  }
}

/**
 * Builds a Dockerfile (docs/dockerfile.md) into `output`: one reproducible image per
 * platform, tagged (several become one OCI image index). Needs root: the root filesystems of
 * the stages keep their files' owners, and RUN mounts an overlay and starts runc.
 */
export async function buildDockerfile(output: ImageReference, options: DockerfileBuildOptions): Promise<BuildResult | MultiPlatformBuildResult> {
  const platforms = options.platforms ?? [hostPlatform()];
  checkPlatforms(platforms, output);
  if (process.getuid?.() !== 0) {
    throw new PrtiqlError('E_RUNTIME', 'building a Dockerfile needs root: the root filesystems it assembles keep their files\' owners');
  }
  const dockerfile = await readDockerfile(options.dockerfile);
  await checkDirectory(options.context, 'build context');
  const target = targetIndex(dockerfile, options.target);
  const contextFilter = await readDockerignore(options.context);
  const cache = await BuildCache.open(options.cacheDirectory);
  const mtime = options.mtime ?? sourceDateEpoch();
  const buildArgs = options.buildArgs ?? new Map<string, string>();
  const usedBuildArgs = new Set<string>();
  const log = options.log ?? (() => undefined);

  const scratch = await mkdtemp(join(tmpdir(), 'prtiql-dockerfile-'));
  try {
    const layout = await OciLayout.openOrCreate(output.transport === 'oci' ? output.path : join(scratch, 'layout'));
    const images: Omit<BuildResult, 'reference'>[] = [];
    for (const [i, platform] of platforms.entries()) {
      if (platforms.length > 1) log(`building for ${formatPlatform(platform)}`);
      const platformScratch = join(scratch, `platform-${i}`);
      await mkdir(platformScratch);
      const builder = new StageBuilder({
        dockerfile, context: options.context, contextFilter, buildArgs, usedBuildArgs, platform, layout, cache,
        noCache: options.noCache ?? false, mtime, scratch: platformScratch, registry: options.registry, log, runOutput: options.runOutput,
      });
      const state = await builder.build(target);
      const { manifest, config } = await writeStageImage(state, layout, mtime);
      images.push({
        manifest,
        config,
        platform: state.platform,
        layers: state.layers.map((layer) => ({ digest: layer.descriptor.digest, size: layer.descriptor.size, diffID: layer.diffID, uncompressedSize: layer.uncompressedSize })),
      });
      await rm(platformScratch, { recursive: true, force: true });
    }
    for (const name of buildArgs.keys()) {
      if (!usedBuildArgs.has(name)) log(`warning: build argument ${name} was not consumed by any ARG`);
    }

    const tag = output.transport === 'docker-archive' ? DEFAULT_TAG : (output.tag ?? DEFAULT_TAG);
    if (images.length > 1) {
      const index: ImageIndex = {
        schemaVersion: 2,
        mediaType: MediaType.imageIndex,
        manifests: images.map((image) => ({ ...image.manifest, platform: image.platform })),
      };
      const indexDescriptor = await layout.writeBlob(Buffer.from(JSON.stringify(index)), MediaType.imageIndex);
      await layout.setTag(tag, indexDescriptor);
      return { reference: formatImageReference({ ...output, tag } as ImageReference), index: indexDescriptor, images };
    }
    const [image] = images;
    await layout.setTag(tag, { ...image.manifest, platform: image.platform });
    if (output.transport === 'oci') return { reference: formatImageReference({ ...output, tag }), ...image };
    const written = await writeImage(await openImage({ transport: 'oci', path: layout.root, tag }), output, { registry: options.registry, progress: options.progress });
    return { reference: written.reference, ...image };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
