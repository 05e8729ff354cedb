import { PrtiqlError } from '../../shared/errors.js';
import type { StringOption } from './subcommand.js';

/** The flags run, stop and logs share to name a container. */
export const DEFAULT_CONTAINER_NAME = 'prtiql';
export const DEFAULT_STOP_TIMEOUT_SECONDS = 10;

export const CONTAINER_NAME_OPTION = {
  type: 'string',
  placeholder: 'id',
  default: DEFAULT_CONTAINER_NAME,
  description: "the container: runc id, hostname and bundle directory name (letters, digits, '_', '.', '+', '-')",
} as const satisfies StringOption;

/** A container name is a runc id and a directory name: no separators, no dot-only names. */
const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/;

export function parseContainerName(command: string, name: string): string {
  if (!CONTAINER_NAME.test(name)) {
    throw new PrtiqlError('E_USAGE', `${command}: --name must be letters, digits, '_', '.', '+' or '-': ${JSON.stringify(name)}`);
  }
  return name;
}

export function parseSeconds(command: string, flag: string, text: string): number {
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isFinite(seconds) || seconds < 0) throw new PrtiqlError('E_USAGE', `${command}: --${flag} is a number of seconds`);
  return seconds;
}
