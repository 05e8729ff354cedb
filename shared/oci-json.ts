import { parseDigest } from './digest.js';
import { PrtiqlError } from './errors.js';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform } from './oci.js';

/**
 * Parses untrusted OCI JSON documents, keeping only the fields the toolchain relies on checked:
 * the publisher reading images and the device reading what a release names check them alike.
 */

function fail(what: string, problem: string): never {
  throw new PrtiqlError('E_BAD_INPUT', `${what} ${problem}`);
}

export function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    fail(what, 'is not valid JSON');
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseDescriptor(value: unknown, what: string): Descriptor {
  if (!isObject(value)) fail(what, 'is not a descriptor object');
  if (typeof value.mediaType !== 'string') fail(what, 'has no mediaType');
  if (!Number.isSafeInteger(value.size) || (value.size as number) < 0) fail(what, 'has no valid size');
  if (value.annotations !== undefined && !isObject(value.annotations)) fail(what, 'has malformed annotations');
  parseDigest(value.digest, `${what} digest`);
  return value as unknown as Descriptor;
}

export function parseIndex(value: unknown, what: string): ImageIndex {
  if (!isObject(value) || value.schemaVersion !== 2 || !Array.isArray(value.manifests)) {
    fail(what, 'is not an OCI image index');
  }
  value.manifests.forEach((entry, i) => parseDescriptor(entry, `${what} manifests[${i}]`));
  return value as unknown as ImageIndex;
}

export function parseManifest(value: unknown, what: string): ImageManifest {
  if (!isObject(value) || value.schemaVersion !== 2 || !Array.isArray(value.layers)) {
    fail(what, 'is not an image manifest');
  }
  parseDescriptor(value.config, `${what} config`);
  value.layers.forEach((layer, i) => parseDescriptor(layer, `${what} layers[${i}]`));
  return value as unknown as ImageManifest;
}

export function parseImageConfig(value: unknown, what: string): ImageConfig {
  if (!isObject(value) || typeof value.os !== 'string' || typeof value.architecture !== 'string') {
    fail(what, 'is not an image config (no os/architecture)');
  }
  const rootfs = value.rootfs;
  if (!isObject(rootfs) || !Array.isArray(rootfs.diff_ids)) fail(what, 'has no rootfs.diff_ids');
  rootfs.diff_ids.forEach((diffID, i) => parseDigest(diffID, `${what} rootfs.diff_ids[${i}]`));
  return value as unknown as ImageConfig;
}

/** A config must name one diffID per manifest layer. */
export function checkLayerCount(manifest: ImageManifest, config: ImageConfig, what: string): void {
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    fail(what, `lists ${manifest.layers.length} layers but its config has ${config.rootfs.diff_ids.length} diff_ids`);
  }
}

/** The platform an image config declares. */
export function configPlatform(config: ImageConfig): Platform {
  return { os: config.os, architecture: config.architecture, ...(config.variant && { variant: config.variant }) };
}
