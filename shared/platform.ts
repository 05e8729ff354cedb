import { endianness } from 'node:os';
import { PrtiqlError } from './errors.js';
import type { Platform } from './oci.js';

const PLATFORM_PART = /^[a-z0-9_]+$/;

/** `os/arch[/variant]`, e.g. linux/arm64 or linux/arm/v7. */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || !parts.every((part) => PLATFORM_PART.test(part))) {
    throw new PrtiqlError('E_BAD_INPUT', `invalid platform ${JSON.stringify(text)}: expected os/arch or os/arch/variant, e.g. linux/arm64`);
  }
  const [os, architecture, variant] = parts;
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** The ARM version this Node was built for ("6", "7"), if it is an ARM build. */
function nodeArmVersion(): string | undefined {
  const version = (process.config.variables as Record<string, unknown>).arm_version;
  return typeof version === 'string' || typeof version === 'number' ? String(version) : undefined;
}

/**
 * The OCI (GOARCH) name of a Node process.arch value. 32-bit ARM gets its variant from the
 * ARM version Node was built for (v7 when unknown).
 */
export function ociArchitecture(nodeArch: string, littleEndian = endianness() === 'LE', armVersion = nodeArmVersion()): Pick<Platform, 'architecture' | 'variant'> {
  switch (nodeArch) {
    case 'x64':
      return { architecture: 'amd64' };
    case 'ia32':
      return { architecture: '386' };
    case 'arm':
      return { architecture: 'arm', variant: armVersion !== undefined && /^[5-7]$/.test(armVersion) ? `v${armVersion}` : 'v7' };
    case 'mipsel':
      return { architecture: 'mipsle' };
    case 'mips64el':
      return { architecture: 'mips64le' };
    case 'ppc64':
      return { architecture: littleEndian ? 'ppc64le' : 'ppc64' };
    default:
      return { architecture: nodeArch };
  }
}

/** linux plus the architecture this Node runs on: the default target of a build and a device's own platform. */
export function hostPlatform(): Platform {
  return { os: 'linux', ...ociArchitecture(process.arch) };
}
