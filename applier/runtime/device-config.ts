import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { PrtiqlError } from '../../shared/errors.js';
import type { Platform } from '../../shared/oci.js';
import { parsePlatform } from '../../shared/platform.js';
import type { HostAdditions, HostMount, NetworkMode } from '../../filesystem/runtime-spec.js';
import { readFileCapped } from '../../shared/capped-read.js';
import { LINUX_CAPABILITIES, type ConfinementRelaxations } from '../../filesystem/confinement.js';
import type { Workload } from './health-check.js';

/** Read by `run` when no --config is given, if it exists. */
export const DEFAULT_DEVICE_CONFIG_PATH = '/etc/prtiql/device.json';

const MAX_CONFIG_BYTES = 64 * 1024;
/** Below this a container cannot even start (docker has the same floor). */
export const MIN_MEMORY_LIMIT = 6 * 1024 * 1024;

/** What one device adds to every image it runs; docs/running.md describes the file. */
export interface DeviceConfig extends HostAdditions {
  network?: NetworkMode;
  /** The image `update` picks from multi-platform releases, instead of the one Node reports. */
  platform?: Platform;
  /** How `run` judges the first start of an image; absent: `service`. */
  workload?: Workload;
}

export const EMPTY_DEVICE_CONFIG: DeviceConfig = { mounts: [], env: {} };

const CONFIG_KEYS = new Set(['mounts', 'env', 'network', 'memoryLimit', 'pidsLimit', 'platform', 'confinement', 'workload']);
const CONFINEMENT_SWITCHES = ['seccomp', 'noNewPrivileges', 'maskedPaths'] as const;
const CONFINEMENT_KEYS = new Set<string>([...CONFINEMENT_SWITCHES, 'addCapabilities']);
const MOUNT_KEYS = new Set(['source', 'destination', 'readOnly']);
/** The runtime's own mounts: a device mount there would hide or be hidden by them. */
const RESERVED_DESTINATIONS = ['/proc', '/sys', '/dev'];
const MEMORY = /^([0-9]+)\s*(?:([kmg])(?:i?b)?|b)?$/i;
const UNIT_BYTES: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * The device config at `path`, or, with no path, the default file if it exists (else
 * nothing). Mount sources must exist when the config is loaded.
 */
export async function loadDeviceConfig(path: string | undefined): Promise<DeviceConfig> {
  const config = await readDeviceConfig(path);
  const file = path ?? DEFAULT_DEVICE_CONFIG_PATH;
  for (const mount of config.mounts) {
    const exists = await stat(mount.source).then(() => true, () => false);
    if (!exists) throw new PrtiqlError('E_NOT_FOUND', `device config ${file}: mount source ${mount.source} does not exist`);
  }
  return config;
}

/** Reads and checks the device config like loadDeviceConfig, without looking at mount sources (what `update` needs). */
export async function readDeviceConfig(path: string | undefined): Promise<DeviceConfig> {
  const file = path ?? DEFAULT_DEVICE_CONFIG_PATH;
  let bytes: Buffer;
  try {
    bytes = await readFileCapped(file, MAX_CONFIG_BYTES, `device config ${file}`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
    if (path === undefined) return EMPTY_DEVICE_CONFIG;
    throw new PrtiqlError('E_NOT_FOUND', `device config ${file} does not exist`);
  }
  return parseDeviceConfig(bytes.toString('utf8'), file);
}

/** Validates the whole file; anything unknown or malformed is E_BAD_INPUT naming the file. */
export function parseDeviceConfig(text: string, file: string): DeviceConfig {
  const fail = (problem: string): never => {
    throw new PrtiqlError('E_BAD_INPUT', `device config ${file}: ${problem}`);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    fail('not valid JSON');
  }
  const object = asObject(raw, 'the file', fail);
  rejectUnknownKeys(object, CONFIG_KEYS, '', fail);

  const config: DeviceConfig = { mounts: [], env: {} };
  if (object.mounts !== undefined) {
    if (!Array.isArray(object.mounts)) fail('"mounts" must be a list');
    config.mounts = (object.mounts as unknown[]).map((entry, index) => parseMount(entry, `mounts[${index}]`, fail));
    const destinations = config.mounts.map((mount) => mount.destination);
    const duplicate = destinations.find((destination, index) => destinations.indexOf(destination) !== index);
    if (duplicate !== undefined) fail(`two mounts have the destination ${duplicate}`);
  }
  if (object.env !== undefined) {
    const env = asObject(object.env, '"env"', fail);
    for (const [name, value] of Object.entries(env)) {
      if (name === '' || name.includes('=') || name.includes('\0')) fail(`env name ${JSON.stringify(name)} is not a variable name`);
      if (typeof value !== 'string' || value.includes('\0')) fail(`env ${name} must be a string`);
      config.env[name] = value as string;
    }
  }
  if (object.network !== undefined) {
    if (object.network !== 'none' && object.network !== 'host') fail('"network" is "none" or "host"');
    config.network = object.network as NetworkMode;
  }
  if (object.memoryLimit !== undefined) config.memoryLimit = parseMemoryLimit(object.memoryLimit, fail);
  if (object.pidsLimit !== undefined) {
    if (!Number.isSafeInteger(object.pidsLimit) || (object.pidsLimit as number) < 1) fail('"pidsLimit" must be a positive integer');
    config.pidsLimit = object.pidsLimit as number;
  }
  if (object.platform !== undefined) {
    if (typeof object.platform !== 'string') fail('"platform" must be a string, os/arch[/variant]');
    try {
      config.platform = parsePlatform(object.platform as string);
    } catch {
      fail(`"platform" must be os/arch[/variant], e.g. linux/arm/v7, not ${JSON.stringify(object.platform)}`);
    }
  }
  if (object.confinement !== undefined) config.confinement = parseConfinement(object.confinement, fail);
  if (object.workload !== undefined) {
    if (object.workload !== 'service' && object.workload !== 'job') fail('"workload" is "service" (runs until stopped) or "job" (does its work and exits)');
    config.workload = object.workload as Workload;
  }
  return config;
}

/** Each relaxation is named on its own; nothing is relaxed by a typo or a value of the wrong type. */
function parseConfinement(value: unknown, fail: Fail): ConfinementRelaxations {
  const object = asObject(value, '"confinement"', fail);
  rejectUnknownKeys(object, CONFINEMENT_KEYS, ' in "confinement"', fail);
  const relax: ConfinementRelaxations = {};
  for (const key of CONFINEMENT_SWITCHES) {
    if (object[key] === undefined) continue;
    if (typeof object[key] !== 'boolean') fail(`confinement.${key} must be true or false`);
    relax[key] = object[key] as boolean;
  }
  if (object.addCapabilities !== undefined) {
    const names = object.addCapabilities;
    if (!Array.isArray(names)) fail('confinement.addCapabilities must be a list of capability names');
    for (const name of names as unknown[]) {
      if (typeof name !== 'string' || !LINUX_CAPABILITIES.includes(name)) {
        fail(`confinement.addCapabilities: ${JSON.stringify(name)} is not a Linux capability (CAP_NET_ADMIN, CAP_SYS_PTRACE, ...)`);
      }
    }
    relax.addCapabilities = names as string[];
  }
  return relax;
}

type Fail = (problem: string) => never;

function asObject(value: unknown, what: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function rejectUnknownKeys(object: Record<string, unknown>, known: Set<string>, where: string, fail: Fail): void {
  const unknown = Object.keys(object).find((key) => !known.has(key));
  if (unknown !== undefined) fail(`unknown key ${JSON.stringify(unknown)}${where}; known keys: ${[...known].join(', ')}`);
}

function parseMount(entry: unknown, where: string, fail: Fail): HostMount {
  const object = asObject(entry, where, fail);
  rejectUnknownKeys(object, MOUNT_KEYS, ` in ${where}`, fail);
  const path = (key: 'source' | 'destination'): string => {
    const value = object[key];
    if (typeof value !== 'string' || !value.startsWith('/')) fail(`${where}.${key} must be an absolute path`);
    const text = value as string;
    if (text.includes('\0') || text.includes(',') || posix.normalize(text) !== text || (text.length > 1 && text.endsWith('/'))) {
      fail(`${where}.${key} must be a plain absolute path without "..", "//", "," or a trailing "/": ${JSON.stringify(text)}`);
    }
    return text;
  };
  const source = path('source');
  const destination = path('destination');
  if (destination === '/' || RESERVED_DESTINATIONS.some((reserved) => destination === reserved || destination.startsWith(`${reserved}/`))) {
    fail(`${where}.destination ${destination} is the container's root or inside ${RESERVED_DESTINATIONS.join(', ')}`);
  }
  if (object.readOnly !== undefined && typeof object.readOnly !== 'boolean') fail(`${where}.readOnly must be true or false`);
  return { source, destination, readOnly: object.readOnly === true };
}

/** Bytes as a number, or a string such as "256M", "1G", "512KiB", "1048576". */
function parseMemoryLimit(value: unknown, fail: Fail): number {
  let bytes = Number.NaN;
  if (typeof value === 'number') bytes = value;
  else if (typeof value === 'string') {
    const match = MEMORY.exec(value.trim());
    if (match) bytes = Number(match[1]) * (match[2] ? UNIT_BYTES[match[2].toLowerCase()] : 1);
  }
  if (!Number.isSafeInteger(bytes)) fail('"memoryLimit" must be bytes, or a number with K, M or G');
  if (bytes < MIN_MEMORY_LIMIT) fail(`"memoryLimit" must be at least ${MIN_MEMORY_LIMIT} bytes (6M)`);
  return bytes;
}
