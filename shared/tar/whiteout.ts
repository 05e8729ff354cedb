import { PrtiqlError } from '../errors.js';

/**
 * OCI whiteouts, as layer tars and committed layer directories hold them: an empty file
 * `.wh.<name>` hides `<name>` of the layers below, and `.wh..wh..opq` hides everything the
 * layers below have in its directory.
 */
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

/**
 * Whether a path is an OCI whiteout marker. Refuses names that look like one but are not
 * valid: ".wh." alone, ".wh.." / ".wh..." (would hide '.' or '..'), and AUFS-internal
 * ".wh..wh.*" names other than the opaque marker.
 */
export function isWhiteout(path: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (!name.startsWith(WHITEOUT_PREFIX)) return false;
  if (!isValidWhiteoutName(name)) throw new PrtiqlError('E_UNSAFE_ENTRY', `tar entry ${JSON.stringify(path)}: is not a valid whiteout name`);
  return true;
}

/** For a name starting with ".wh.": whether it is the opaque marker or hides a real name. */
export function isValidWhiteoutName(name: string): boolean {
  if (name === OPAQUE_WHITEOUT) return true;
  const hidden = name.slice(WHITEOUT_PREFIX.length);
  return hidden !== '' && hidden !== '.' && hidden !== '..' && !hidden.startsWith(WHITEOUT_PREFIX);
}
