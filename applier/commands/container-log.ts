import { PrtiqlError } from '../../shared/errors.js';
import { CONTAINER_LOG_MAX_BYTES, writeRotatingLog } from '../runtime/container-log.js';
import { parseOptions, requireOption, type Subcommand } from './subcommand.js';

export const containerLogCommand: Subcommand = {
  summary: 'container-log --file <path> [--max-bytes <n>]: copy stdin to a log file rotated at a size (used by run --detach)',
  async run(args) {
    const values = parseOptions('container-log', args, {
      file: { type: 'string' },
      'max-bytes': { type: 'string', default: String(CONTAINER_LOG_MAX_BYTES) },
    });
    const maxBytes = Number(values['max-bytes']);
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new PrtiqlError('E_USAGE', 'container-log: --max-bytes is a positive integer');
    await writeRotatingLog(process.stdin, requireOption('container-log', values.file, 'file'), maxBytes);
    return 0;
  },
};
