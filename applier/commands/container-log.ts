import { PrtiqlError } from '../../shared/errors.js';
import { CONTAINER_LOG_MAX_BYTES, writeRotatingLog } from '../runtime/container-log.js';
import { defineCommand } from './subcommand.js';

export const containerLogCommand = defineCommand({
  name: 'container-log',
  summary: 'copy stdin to a log file rotated at a size (run --detach starts it)',
  hidden: true,
  options: {
    file: { type: 'string', placeholder: 'path', required: true, description: 'the log file; at the size limit it becomes <path>.1 and a new one starts' },
    'max-bytes': { type: 'string', placeholder: 'n', default: String(CONTAINER_LOG_MAX_BYTES), description: 'the size at which the file is rotated' },
  },
  examples: ['some-program | applier container-log --file /var/lib/prtiql/containers/web.log'],
  async run(values) {
    const maxBytes = Number(values['max-bytes']);
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new PrtiqlError('E_USAGE', 'container-log: --max-bytes is a positive integer');
    await writeRotatingLog(process.stdin, values.file, maxBytes);
    return 0;
  },
});
