import { readFile } from 'node:fs/promises';
import type { Platform } from '../../../../shared/oci.js';
import { formatPlatform, hostPlatform } from '../build/platform.js';

export const BINFMT_MISC = '/proc/sys/fs/binfmt_misc';

/** The names qemu-user (qemu-user-static, tonistiigi/binfmt) registers its interpreters under, by OCI architecture. */
const QEMU_NAMES: Readonly<Record<string, string>> = {
  amd64: 'qemu-x86_64',
  '386': 'qemu-i386',
  arm64: 'qemu-aarch64',
  arm: 'qemu-arm',
  ppc64le: 'qemu-ppc64le',
  s390x: 'qemu-s390x',
  riscv64: 'qemu-riscv64',
  mips64le: 'qemu-mips64el',
  mipsle: 'qemu-mipsel',
  loong64: 'qemu-loongarch64',
};

export type Execution = { native: true } | { native: false; emulator: string } | { native: false; missing: string };

/**
 * How programs of `platform` can run on this host: natively (same architecture), through a
 * qemu interpreter registered with binfmt_misc that is enabled and has the fix-binary flag
 * (F: the kernel opens it at registration, so it works inside a container's root
 * filesystem), or not at all (`missing` says what to register).
 */
export async function executionOf(platform: Platform, binfmt = BINFMT_MISC): Promise<Execution> {
  const host = hostPlatform();
  if (platform.os === host.os && platform.architecture === host.architecture) return { native: true };
  const name = QEMU_NAMES[platform.architecture] ?? `qemu-${platform.architecture}`;
  let registration: string;
  try {
    registration = await readFile(`${binfmt}/${name}`, 'utf8');
  } catch {
    return { native: false, missing: `${name} is not registered in ${binfmt}` };
  }
  const lines = registration.split('\n');
  const flags = lines.find((line) => line.startsWith('flags:'))?.slice('flags:'.length).trim() ?? '';
  if (lines[0] !== 'enabled') return { native: false, missing: `${binfmt}/${name} is disabled` };
  if (!flags.includes('F')) return { native: false, missing: `${binfmt}/${name} lacks the fix-binary flag F` };
  const interpreter = lines.find((line) => line.startsWith('interpreter '))?.slice('interpreter '.length) ?? name;
  return { native: false, emulator: interpreter };
}

/** One line that says why RUN cannot run for `platform`, for errors. */
export function emulationHint(platform: Platform, missing: string): string {
  return `RUN for ${formatPlatform(platform)} on a ${formatPlatform(hostPlatform())} host needs an emulator (${missing}; e.g. install qemu-user-static and register it with binfmt_misc)`;
}
