import { dirname, resolve } from 'node:path';
import { readFileCapped } from '../../../../shared/capped-read.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { parseJson } from '../../../../shared/oci-json.js';
import type { Platform } from '../../../../shared/oci.js';
import { parsePlatform } from './platform.js';

export interface DirectoryLayerSource {
  directory: string;
  /** Owner written for every entry; 0 (root) by default. */
  uid?: number;
  gid?: number;
  /** Recorded in the image history. */
  comment?: string;
}

export interface TarLayerSource {
  /** A tar or tar.gz file, re-written deterministically. */
  tar: string;
  comment?: string;
}

export type LayerSource = DirectoryLayerSource | TarLayerSource;

/** The runtime settings of the image config. */
export interface ImageSettings {
  entrypoint?: string[];
  cmd?: string[];
  /** Written as KEY=VALUE in insertion order. */
  env?: Record<string, string>;
  workdir?: string;
  user?: string;
  labels?: Record<string, string>;
}

export interface BuildSpec extends ImageSettings {
  /** Base layer first. */
  layers: LayerSource[];
  /** Defaults to linux on the architecture of this Node. */
  platform?: Platform;
}

const SPEC_KEYS = new Set(['platform', 'layers', 'entrypoint', 'cmd', 'env', 'workdir', 'user', 'labels']);
const DIRECTORY_LAYER_KEYS = new Set(['directory', 'uid', 'gid', 'comment']);
const TAR_LAYER_KEYS = new Set(['tar', 'comment']);
const MAX_SPEC_BYTES = 1024 * 1024;

class SpecReader {
  constructor(private readonly what: string) {}

  fail(problem: string): never {
    throw new PrtiqlError('E_BAD_INPUT', `${this.what}: ${problem}`);
  }

  object(value: unknown, field: string, allowed: ReadonlySet<string>): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(`${field} must be an object`);
    const unknown = Object.keys(value).filter((key) => !allowed.has(key));
    if (unknown.length > 0) this.fail(`${field} has unknown field(s) ${unknown.join(', ')} (allowed: ${[...allowed].join(', ')})`);
    return value as Record<string, unknown>;
  }

  string(value: unknown, field: string): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') this.fail(`${field} must be a non-empty string`);
    return value;
  }

  stringArray(value: unknown, field: string): string[] | undefined {
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) this.fail(`${field} must be an array of strings`);
    return value;
  }

  stringMap(value: unknown, field: string): Record<string, string> | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) {
      this.fail(`${field} must be an object of string values`);
    }
    return value as Record<string, string>;
  }

  id(value: unknown, field: string): number | undefined {
    if (value === undefined) return undefined;
    if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > 0xffffffff) this.fail(`${field} must be a numeric id`);
    return value as number;
  }
}

function parseLayer(reader: SpecReader, value: unknown, field: string, baseDirectory: string): LayerSource {
  const isTar = typeof value === 'object' && value !== null && 'tar' in value;
  const layer = reader.object(value, field, isTar ? TAR_LAYER_KEYS : DIRECTORY_LAYER_KEYS);
  const comment = reader.string(layer.comment, `${field}.comment`);
  if (isTar) {
    return { tar: resolve(baseDirectory, reader.string(layer.tar, `${field}.tar`)!), ...(comment && { comment }) };
  }
  const directory = reader.string(layer.directory, `${field}.directory`);
  if (directory === undefined) reader.fail(`${field} needs "directory" or "tar"`);
  const uid = reader.id(layer.uid, `${field}.uid`);
  const gid = reader.id(layer.gid, `${field}.gid`);
  return {
    directory: resolve(baseDirectory, directory),
    ...(uid !== undefined && { uid }),
    ...(gid !== undefined && { gid }),
    ...(comment && { comment }),
  };
}

/** Validates a build spec document; relative layer paths are resolved against `baseDirectory`. */
export function parseBuildSpec(value: unknown, baseDirectory: string, what = 'build spec'): BuildSpec {
  const reader: SpecReader = new SpecReader(what);
  const spec = reader.object(value, 'the spec', SPEC_KEYS);
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) reader.fail('layers must be a non-empty array');
  const platform = reader.string(spec.platform, 'platform');
  const settings: ImageSettings = {
    entrypoint: reader.stringArray(spec.entrypoint, 'entrypoint'),
    cmd: reader.stringArray(spec.cmd, 'cmd'),
    env: reader.stringMap(spec.env, 'env'),
    workdir: reader.string(spec.workdir, 'workdir'),
    user: reader.string(spec.user, 'user'),
    labels: reader.stringMap(spec.labels, 'labels'),
  };
  return {
    layers: spec.layers.map((layer, i) => parseLayer(reader, layer, `layers[${i}]`, baseDirectory)),
    ...(platform && { platform: parsePlatform(platform) }),
    ...Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)),
  };
}

/** Reads and validates a JSON build spec file (docs/build-spec.md). */
export async function readBuildSpec(file: string): Promise<BuildSpec> {
  let bytes: Buffer;
  try {
    bytes = await readFileCapped(file, MAX_SPEC_BYTES, `build spec ${file}`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new PrtiqlError('E_NOT_FOUND', `build spec ${file} does not exist`);
    throw error;
  }
  return parseBuildSpec(parseJson(bytes, `build spec ${file}`), dirname(resolve(file)), `build spec ${file}`);
}
