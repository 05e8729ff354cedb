import { LOG_FORMATS, LOG_LEVELS } from '../log.js';
import type { BooleanOption, OptionTable, StringOption } from './subcommand.js';

/** Options every command takes. */
export const COMMON_OPTIONS = {
  'log-level': {
    type: 'string',
    placeholder: 'level',
    choices: LOG_LEVELS,
    default: 'info',
    env: 'PRTIQL_LOG_LEVEL',
    description: 'the least severe log lines written to stderr',
  },
  'log-format': {
    type: 'string',
    placeholder: 'format',
    choices: LOG_FORMATS,
    env: 'PRTIQL_LOG_FORMAT',
    description: 'log lines as JSON objects or as text; by default text when stderr is a terminal, JSON otherwise (journald)',
  },
  help: { type: 'boolean', short: 'h', description: 'show this help and exit' },
} as const satisfies OptionTable;

/** `--store`, for every command that works on a device store. */
export const STORE_OPTION = {
  type: 'string',
  placeholder: 'dir',
  required: true,
  description: 'the device store: installed layers, images, state and health records (docs/device-store.md)',
} as const satisfies StringOption;

/** `--json`, for commands that print a result: the result, or the error, as one JSON object on stdout. */
export const JSON_OPTION = {
  type: 'boolean',
  description: 'print the result as one JSON object on stdout; a failure prints {"error":{"code","message"}} there instead, with the same exit code',
} as const satisfies BooleanOption;
