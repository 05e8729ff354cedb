import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PrtiqlError } from '../../../shared/errors.js';

/** The secrets the applier looks for, by credential name (docs/running.md, "Install"). */
export const SERVICE_CREDENTIALS = {
  registryUsername: 'registry-username',
  registryPassword: 'registry-password',
  /** The Authorization header value for an http(s) source, as in `--auth-file`. */
  sourceAuthorization: 'source-authorization',
} as const;

/** Largest credential read: they hold a password or one header value. */
const MAX_CREDENTIAL_BYTES = 64 * 1024;

/**
 * A secret systemd passed to the service with `LoadCredential=<name>:...`: the file `<name>` in
 * $CREDENTIALS_DIRECTORY, which only the service can read (unlike an environment file's values,
 * which `systemctl show` and every process of the unit see). Undefined without that directory
 * or that file. One line break at the end (as `echo` writes) is not part of the secret.
 * Synchronous: it is read once, while the source is opened.
 */
export function serviceCredential(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const directory = env.CREDENTIALS_DIRECTORY;
  if (!directory) return undefined;
  const path = join(directory, name);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new PrtiqlError('E_USAGE', `credential ${path} cannot be read: ${code ?? String(error)}`);
  }
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) throw new PrtiqlError('E_USAGE', `credential ${path} is not a regular file`);
    if (info.size > MAX_CREDENTIAL_BYTES) throw new PrtiqlError('E_TOO_LARGE', `credential ${path} is larger than the ${MAX_CREDENTIAL_BYTES}-byte limit`);
    return readFileSync(fd, 'utf8').replace(/\r?\n$/, '');
  } finally {
    closeSync(fd);
  }
}
