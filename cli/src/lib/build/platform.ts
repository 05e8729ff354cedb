/** Platform names are shared with the device applier (shared/platform.ts). */
export { formatPlatform, hostPlatform, ociArchitecture, parsePlatform } from '../../../../shared/platform.js';
