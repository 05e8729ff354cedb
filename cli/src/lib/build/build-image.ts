import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { MediaType, type ContainerConfig, type Descriptor, type ImageConfig, type ImageManifest, type Platform } from '../../../../shared/oci.js';
import { OciLayout } from '../image/oci-layout.js';
import { openImage } from '../image/open-image.js';
import { DEFAULT_TAG, formatImageReference, parseImageReference, type DockerArchiveReference, type ImageReference, type RegistryReference } from '../image/reference.js';
import { writeImage } from '../image/write-image.js';
import type { RegistryOptions } from '../registry/registry-client.js';
import type { ProgressFactory } from '../../progress.js';
import type { BuildSpec, ImageSettings, LayerSource } from './build-spec.js';
import { checkDirectory, directoryEntries } from './directory-entries.js';
import { writeLayerBlob, type WrittenLayer } from './write-layer-blob.js';
import { hostPlatform } from './platform.js';
import { rfc3339, sourceDateEpoch } from './source-date-epoch.js';
import { spoolTarFile } from './tar-file-entries.js';

export interface BuildImageOptions {
  /** Seconds since the epoch for every timestamp; defaults to SOURCE_DATE_EPOCH, else 0. */
  mtime?: number;
  /** Called after each layer is stored. */
  onLayer?: (index: number, layer: WrittenLayer) => void;
  /** For docker:// outputs: how to reach the registry. */
  registry?: RegistryOptions;
  /** Progress of copying the built image to a docker:// or docker-archive: output. */
  progress?: ProgressFactory;
}

export interface BuildResult {
  /** The image written: oci:<path>:<tag>, docker-archive:<file>[:<name>] or docker://<host>/<repo>:<tag>. */
  reference: string;
  manifest: Descriptor;
  config: Descriptor;
  platform: Platform;
  layers: { digest: Digest; size: number; diffID: Digest; uncompressedSize: number }[];
}

async function checkTarFile(path: string): Promise<void> {
  try {
    if ((await stat(path)).isFile()) return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new PrtiqlError('E_NOT_FOUND', `layer tar ${path} does not exist`);
    throw error;
  }
  throw new PrtiqlError('E_BAD_INPUT', `layer tar ${path} is not a regular file`);
}

async function checkSource(source: LayerSource): Promise<void> {
  if ('tar' in source) await checkTarFile(source.tar);
  else await checkDirectory(source.directory, 'build context');
}

async function writeLayer(layout: OciLayout, source: LayerSource, mtime: number): Promise<WrittenLayer> {
  if (!('tar' in source)) {
    const entries = await directoryEntries(source.directory, { uid: source.uid ?? 0, gid: source.gid ?? 0 });
    return writeLayerBlob(layout, entries, mtime);
  }
  const spooled = await spoolTarFile(source.tar);
  try {
    return await writeLayerBlob(layout, spooled.entries, mtime);
  } finally {
    await spooled.dispose();
  }
}

function containerConfig(settings: ImageSettings): ContainerConfig {
  const config: ContainerConfig = {};
  if (settings.user !== undefined) config.User = settings.user;
  if (settings.env !== undefined) config.Env = Object.entries(settings.env).map(([key, value]) => `${key}=${value}`);
  if (settings.entrypoint !== undefined) config.Entrypoint = settings.entrypoint;
  if (settings.cmd !== undefined) config.Cmd = settings.cmd;
  if (settings.workdir !== undefined) config.WorkingDir = settings.workdir;
  if (settings.labels !== undefined) config.Labels = settings.labels;
  return config;
}

/**
 * Builds into a temporary OCI layout (layer digests are known only once compressed), then
 * writes the image to a registry or a docker archive. The result describes the built image;
 * a docker archive holds the same config with the layers uncompressed.
 */
async function buildThroughLayout(spec: BuildSpec, reference: DockerArchiveReference | RegistryReference, options: BuildImageOptions): Promise<BuildResult> {
  const layout = await mkdtemp(join(tmpdir(), 'prtiql-build-'));
  try {
    const built = await buildImage(spec, { transport: 'oci', path: layout }, options);
    const written = await writeImage(await openImage(built.reference), reference, { registry: options.registry, progress: options.progress });
    return { ...built, reference: written.reference };
  } finally {
    await rm(layout, { recursive: true, force: true });
  }
}

/**
 * Builds a reproducible image into an OCI layout and tags it there: one gzip layer per
 * source, then the config, then the manifest, then index.json (other tags are kept).
 * The same inputs and mtime always give the same manifest digest.
 */
export async function buildImage(spec: BuildSpec, output: string | ImageReference, options: BuildImageOptions = {}): Promise<BuildResult> {
  const reference = typeof output === 'string' ? parseImageReference(output) : output;
  if (reference.transport !== 'oci') return buildThroughLayout(spec, reference, options);
  const tag = reference.tag ?? DEFAULT_TAG;
  const mtime = options.mtime ?? sourceDateEpoch();
  const platform = spec.platform ?? hostPlatform();
  if (spec.layers.length === 0) throw new PrtiqlError('E_BAD_INPUT', 'an image needs at least one layer');
  for (const source of spec.layers) await checkSource(source);

  const layout = await OciLayout.openOrCreate(reference.path);
  const created = rfc3339(mtime);
  const layers: WrittenLayer[] = [];
  for (const source of spec.layers) {
    const layer = await writeLayer(layout, source, mtime);
    options.onLayer?.(layers.length, layer);
    layers.push(layer);
  }

  const config: ImageConfig = {
    created,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant && { variant: platform.variant }),
    config: containerConfig(spec),
    rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffID) },
    history: spec.layers.map((source) => ({ created, created_by: 'prtiql build', ...(source.comment && { comment: source.comment }) })),
  };
  const configDescriptor = await layout.writeBlob(Buffer.from(JSON.stringify(config)), MediaType.imageConfig);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.imageManifest,
    config: configDescriptor,
    layers: layers.map((layer) => layer.descriptor),
  };
  const manifestDescriptor = await layout.writeBlob(Buffer.from(JSON.stringify(manifest)), MediaType.imageManifest);
  await layout.setTag(tag, { ...manifestDescriptor, platform });

  return {
    reference: formatImageReference({ ...reference, tag }),
    manifest: manifestDescriptor,
    config: configDescriptor,
    platform,
    layers: layers.map((layer) => ({
      digest: layer.descriptor.digest,
      size: layer.descriptor.size,
      diffID: layer.diffID,
      uncompressedSize: layer.size,
    })),
  };
}
