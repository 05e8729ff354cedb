import { constants } from 'node:os';
import { PrtiqlError } from '../shared/errors.js';
import type { ContainerConfig, ImageConfig } from '../shared/oci.js';
import { confinement, type ConfinementRelaxations } from './confinement.js';
import type { SeccompProfile } from './seccomp-profile.js';

/** The subset of the OCI runtime spec (config.json of a bundle) that the applier writes. */
export interface RuntimeSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: ProcessUser;
    args: string[];
    env: string[];
    cwd: string;
    capabilities: Record<'bounding' | 'effective' | 'permitted' | 'inheritable' | 'ambient', string[]>;
    rlimits: { type: string; hard: number; soft: number }[];
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: { destination: string; type: string; source: string; options: string[] }[];
  linux: {
    resources: {
      devices: { allow: boolean; access: string }[];
      memory?: { limit: number };
      pids?: { limit: number };
    };
    namespaces: { type: string }[];
    maskedPaths: string[];
    readonlyPaths: string[];
    seccomp?: SeccompProfile;
  };
}

export interface ProcessUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

/** `none`: a new network namespace with loopback only. `host`: the device's own network. */
export type NetworkMode = 'none' | 'host';

/** The image's /etc/passwd and /etc/group, when it has them. */
export interface ImageAccounts {
  passwd?: string;
  group?: string;
}

export interface HostMount {
  /** Absolute path on the host: a file or a directory. */
  source: string;
  /** Absolute path inside the container. */
  destination: string;
  readOnly: boolean;
}

/** What the host adds to every image it runs (on a device: its device config file). */
export interface HostAdditions {
  mounts: HostMount[];
  /** Set after the image's Env, so the host's values win. */
  env: Record<string, string>;
  /** Bytes: linux.resources.memory.limit. */
  memoryLimit?: number;
  /** linux.resources.pids.limit. */
  pidsLimit?: number;
  /** What of the container's default confinement the host gives up; absent: nothing. */
  confinement?: ConfinementRelaxations;
}

const NO_HOST_ADDITIONS: HostAdditions = { mounts: [], env: {} };

export interface RuntimeSpecOptions {
  containerId: string;
  network: NetworkMode;
  accounts: ImageAccounts;
  /** Mounts, env and limits the host adds; network is decided by the caller. */
  host?: HostAdditions;
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const STANDARD_MOUNTS: RuntimeSpec['mounts'] = [
  { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  {
    destination: '/dev/pts',
    type: 'devpts',
    source: 'devpts',
    options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
  },
  { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
  { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
];

/** With the host network the container needs the host's name resolution files. */
const HOST_NETWORK_MOUNTS: RuntimeSpec['mounts'] = ['/etc/resolv.conf', '/etc/hosts'].map((path) => ({
  destination: path,
  type: 'bind',
  source: path,
  options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'],
}));

/**
 * Maps an OCI image config to the runtime config of a bundle whose root filesystem is the
 * directory `rootfs` beside it. Follows docker's semantics for what the image leaves open.
 */
export function runtimeSpec(image: ImageConfig, options: RuntimeSpecOptions): RuntimeSpec {
  const config = image.config ?? {};
  const host = options.host ?? NO_HOST_ADDITIONS;
  const user = resolveUser(config.User ?? '', options.accounts);
  const confined = confinement(host.confinement);
  const namespaces = ['pid', 'ipc', 'uts', 'mount', ...(options.network === 'none' ? ['network'] : [])];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: user.processUser,
      args: processArgs(config),
      env: processEnv(config, options.containerId, user.home, host.env),
      cwd: workingDir(config),
      capabilities: {
        bounding: confined.capabilities,
        effective: confined.capabilities,
        permitted: confined.capabilities,
        inheritable: [],
        ambient: [],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: confined.noNewPrivileges,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: options.containerId,
    mounts: [...STANDARD_MOUNTS, ...(options.network === 'host' ? HOST_NETWORK_MOUNTS : []), ...host.mounts.map(bindMount)],
    linux: {
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        ...(host.memoryLimit !== undefined && { memory: { limit: host.memoryLimit } }),
        ...(host.pidsLimit !== undefined && { pids: { limit: host.pidsLimit } }),
      },
      namespaces: namespaces.map((type) => ({ type })),
      maskedPaths: confined.maskedPaths,
      readonlyPaths: confined.readonlyPaths,
      ...(confined.seccomp && { seccomp: confined.seccomp }),
    },
  };
}

/** Entrypoint followed by Cmd, as docker runs an image without overrides. */
export function processArgs(config: ContainerConfig): string[] {
  const args = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
  if (args.length === 0) {
    throw new PrtiqlError('E_BAD_INPUT', 'the image config has neither Entrypoint nor Cmd: nothing to run');
  }
  return args;
}

/** A host mount: a recursive bind, never a way to gain setuid binaries or devices. */
function bindMount(mount: HostMount): RuntimeSpec['mounts'][number] {
  return { destination: mount.destination, type: 'bind', source: mount.source, options: ['rbind', mount.readOnly ? 'ro' : 'rw', 'nosuid', 'nodev'] };
}

/**
 * PATH and HOSTNAME defaults, overridden by the image's Env, overridden by the host's env;
 * HOME from the user if still unset.
 */
export function processEnv(config: ContainerConfig, hostname: string, home: string, hostEnv: Record<string, string> = {}): string[] {
  const env = new Map<string, string>([
    ['PATH', DEFAULT_PATH],
    ['HOSTNAME', hostname],
  ]);
  for (const entry of config.Env ?? []) {
    const separator = entry.indexOf('=');
    if (separator <= 0) throw new PrtiqlError('E_BAD_INPUT', `image config Env entry is not NAME=value: ${JSON.stringify(entry)}`);
    env.set(entry.slice(0, separator), entry.slice(separator + 1));
  }
  for (const [name, value] of Object.entries(hostEnv)) env.set(name, value);
  if (!env.has('HOME')) env.set('HOME', home);
  return [...env].map(([name, value]) => `${name}=${value}`);
}

/** The signal that asks the container to stop: the image's StopSignal, else SIGTERM. */
export function stopSignal(config: ContainerConfig): NodeJS.Signals {
  const text = (config.StopSignal ?? '').trim().toUpperCase();
  if (text === '') return 'SIGTERM';
  const signals = constants.signals as Record<string, number>;
  const byNumber = /^[0-9]+$/.test(text) ? Object.keys(signals).find((name) => signals[name] === Number(text)) : undefined;
  const name = byNumber ?? (text.startsWith('SIG') ? text : `SIG${text}`);
  if (!(name in signals)) throw new PrtiqlError('E_BAD_INPUT', `image config StopSignal is not a signal: ${JSON.stringify(config.StopSignal)}`);
  return name as NodeJS.Signals;
}

function workingDir(config: ContainerConfig): string {
  const dir = config.WorkingDir || '/';
  if (!dir.startsWith('/')) throw new PrtiqlError('E_BAD_INPUT', `image config WorkingDir is not absolute: ${JSON.stringify(dir)}`);
  return dir;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const NUMERIC_ID = /^[0-9]+$/;
const MAX_ID = 0xffff_fffe;

/**
 * Resolves the image config's User (`user`, `user:group`, each a name or a number) the way
 * docker does: names come from the image's own /etc/passwd and /etc/group; a numeric uid
 * without an entry runs with gid 0; the user's supplementary groups come along.
 */
export function resolveUser(spec: string, accounts: ImageAccounts): { processUser: ProcessUser; home: string } {
  const [userPart, groupPart, ...rest] = spec.split(':');
  if (rest.length > 0 || (groupPart !== undefined && groupPart === '') || (userPart === '' && groupPart !== undefined)) {
    throw new PrtiqlError('E_BAD_INPUT', `image config User is not user[:group]: ${JSON.stringify(spec)}`);
  }
  const users = parsePasswd(accounts.passwd ?? '');
  const groups = parseGroup(accounts.group ?? '');

  let entry: PasswdEntry | undefined;
  let uid: number;
  if (userPart === '') {
    uid = 0;
    entry = users.find((user) => user.uid === 0);
  } else if (NUMERIC_ID.test(userPart)) {
    uid = parseId(userPart, spec);
    entry = users.find((user) => user.uid === uid);
  } else {
    entry = users.find((user) => user.name === userPart);
    if (!entry) {
      throw new PrtiqlError('E_BAD_INPUT', `image config User names "${userPart}", who is not in the image's /etc/passwd`);
    }
    uid = entry.uid;
  }

  let gid: number;
  if (groupPart === undefined) {
    gid = entry?.gid ?? 0;
  } else if (NUMERIC_ID.test(groupPart)) {
    gid = parseId(groupPart, spec);
  } else {
    const group = groups.find((candidate) => candidate.name === groupPart);
    if (!group) {
      throw new PrtiqlError('E_BAD_INPUT', `image config User names group "${groupPart}", which is not in the image's /etc/group`);
    }
    gid = group.gid;
  }

  const additionalGids = entry
    ? [...new Set(groups.filter((group) => group.members.includes(entry.name) && group.gid !== gid).map((group) => group.gid))]
    : [];
  return {
    processUser: additionalGids.length > 0 ? { uid, gid, additionalGids } : { uid, gid },
    home: entry?.home || '/',
  };
}

function parseId(text: string, spec: string): number {
  const id = Number(text);
  if (!Number.isSafeInteger(id) || id > MAX_ID) {
    throw new PrtiqlError('E_BAD_INPUT', `image config User has an id out of range: ${JSON.stringify(spec)}`);
  }
  return id;
}

function accountLines(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => line.split(':'));
}

function parsePasswd(text: string): PasswdEntry[] {
  return accountLines(text)
    .filter((fields) => fields.length >= 4 && NUMERIC_ID.test(fields[2]) && NUMERIC_ID.test(fields[3]))
    .map((fields) => ({ name: fields[0], uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] ?? '' }));
}

function parseGroup(text: string): GroupEntry[] {
  return accountLines(text)
    .filter((fields) => fields.length >= 3 && NUMERIC_ID.test(fields[2]))
    .map((fields) => ({
      name: fields[0],
      gid: Number(fields[2]),
      members: (fields[3] ?? '').split(',').filter((member) => member !== ''),
    }));
}
