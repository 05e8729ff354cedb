import { endianness } from 'node:os';
import { PrtiqlError } from '../../../../shared/errors.js';
import type { Platform } from '../../../../shared/oci.js';

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

/** The OCI (GOARCH) name of a Node process.arch value. */
export function ociArchitecture(nodeArch: string, littleEndian = endianness() === 'LE'): Pick<Platform, 'architecture' | 'variant'> {
  switch (nodeArch) {
    case 'x64':
      return { architecture: 'amd64' };
    case 'ia32':
      return { architecture: '386' };
    case 'arm':
      return { architecture: 'arm', variant: 'v7' };
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

/** linux plus the architecture this Node runs on: the default target of a build. */
export function hostPlatform(): Platform {
  return { os: 'linux', ...ociArchitecture(process.arch) };
}
