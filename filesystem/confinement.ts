import { seccompProfile, type SeccompProfile } from './seccomp-profile.js';

/**
 * What the device config relaxes of the container's default confinement; each is confined
 * unless named here. Absent means docker's defaults plus noNewPrivileges.
 */
export interface ConfinementRelaxations {
  /** false: no seccomp filter at all. */
  seccomp?: boolean;
  /** false: setuid and file capabilities work again inside the container. */
  noNewPrivileges?: boolean;
  /** false: /proc and /sys without masked or read-only paths. */
  maskedPaths?: boolean;
  /** Capabilities on top of the default set (their seccomp calls come with them). */
  addCapabilities?: string[];
}

/** Every Linux capability, in the order of its number (CAP_CHOWN is 0). */
export const LINUX_CAPABILITIES = [
  ...['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID'],
  ...['CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK'],
  ...['CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN'],
  ...['CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE'],
  ...['CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM'],
  ...['CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE'],
];

/** Docker's default capability set. */
export const DEFAULT_CAPABILITIES = [
  'CAP_AUDIT_WRITE',
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_MKNOD',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_RAW',
  'CAP_SETFCAP',
  'CAP_SETGID',
  'CAP_SETPCAP',
  'CAP_SETUID',
  'CAP_SYS_CHROOT',
];

/** Docker's masked and read-only paths: kernel interfaces a container must not read or write. */
const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/sys/devices/virtual/powercap',
  '/sys/firmware',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export interface Confinement {
  capabilities: string[];
  noNewPrivileges: boolean;
  seccomp?: SeccompProfile;
  maskedPaths: string[];
  readonlyPaths: string[];
}

/** The container's confinement: everything on, less what the device config relaxes. */
export function confinement(relax: ConfinementRelaxations = {}): Confinement {
  const capabilities = [...new Set([...DEFAULT_CAPABILITIES, ...(relax.addCapabilities ?? [])])];
  const paths = relax.maskedPaths !== false;
  return {
    capabilities,
    noNewPrivileges: relax.noNewPrivileges !== false,
    ...(relax.seccomp !== false && { seccomp: seccompProfile(capabilities) }),
    maskedPaths: paths ? MASKED_PATHS : [],
    readonlyPaths: paths ? READONLY_PATHS : [],
  };
}
