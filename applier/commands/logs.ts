import { printContainerLog } from '../runtime/logs.js';
import { DEFAULT_CONTAINER_NAME, parseContainerName } from './container-options.js';
import { parseOptions, requireOption, type Subcommand } from './subcommand.js';

export const logsCommand: Subcommand = {
  summary: 'logs --store <dir> [--name <id>] [--follow]: print the output of a container started with run --detach',
  async run(args) {
    const values = parseOptions('logs', args, {
      store: { type: 'string' },
      name: { type: 'string', default: DEFAULT_CONTAINER_NAME },
      follow: { type: 'boolean', default: false },
    });
    const name = parseContainerName('logs', values.name);
    return printContainerLog({ store: requireOption('logs', values.store, 'store'), name, follow: values.follow }, process.stdout);
  },
};
