import { stopContainer } from '../runtime/stop.js';
import { DEFAULT_CONTAINER_NAME, DEFAULT_STOP_TIMEOUT_SECONDS, parseContainerName, parseSeconds } from './container-options.js';
import { parseOptions, requireOption, type Subcommand } from './subcommand.js';

export const stopCommand: Subcommand = {
  summary: 'stop --store <dir> [--name <id>] [--timeout <s>]: stop a container (its StopSignal, then KILL) and remove it',
  async run(args) {
    const values = parseOptions('stop', args, {
      store: { type: 'string' },
      name: { type: 'string', default: DEFAULT_CONTAINER_NAME },
      timeout: { type: 'string', default: String(DEFAULT_STOP_TIMEOUT_SECONDS) },
    });
    return stopContainer({
      store: requireOption('stop', values.store, 'store'),
      name: parseContainerName('stop', values.name),
      timeout: parseSeconds('stop', 'timeout', values.timeout),
    });
  },
};
