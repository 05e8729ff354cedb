import { Flags } from '@oclif/core';
import type { Platform } from '../../shared/oci.js';
import { parsePlatform } from './lib/build/platform.js';
import type { RegistryOptions } from './lib/registry/registry-client.js';

/** Flags of every command that reads or writes docker:// references (docs/image-references.md). */
export const registryFlags = {
  insecure: Flags.boolean({ description: 'Speak plain HTTP to docker:// registries (always done for localhost and 127.0.0.0/8).', helpGroup: 'REGISTRY' }),
  authfile: Flags.string({
    description: 'Registry credentials (docker config.json format). [default: REGISTRY_AUTH_FILE, then $DOCKER_CONFIG/config.json or ~/.docker/config.json]',
    helpGroup: 'REGISTRY',
  }),
};

/** --platform of commands that read images: which image of a multi-platform index. */
export const sourcePlatformFlag = Flags.string({
  description: 'os/arch[/variant] to take from a multi-platform image. [default: its only image, else linux/<arch of this Node>]',
});

export function registryOptionsFrom(flags: { insecure?: boolean; authfile?: string }): RegistryOptions {
  return { insecure: flags.insecure ?? false, ...(flags.authfile !== undefined && { authFile: flags.authfile }) };
}

export function sourcePlatformFrom(flags: { platform?: string }): Platform | undefined {
  return flags.platform === undefined ? undefined : parsePlatform(flags.platform);
}
