import { PrtiqlError } from '../../shared/errors.js';
import { runContainer, type RunOptions } from '../runtime/run.js';
import { DEFAULT_CONTAINER_NAME, DEFAULT_STOP_TIMEOUT_SECONDS, parseContainerName, parseSeconds } from './container-options.js';
import { parseOptions, requireOption, type Subcommand } from './subcommand.js';

export const DEFAULT_HEALTH_SECONDS = 10;

export const runCommand: Subcommand = {
  summary:
    'run --store <dir> [--name <id>] [--detach] [--health-seconds <s>] [--config <file>] [--network none|host] [--rootfs auto|overlay|copy] [--stop-timeout <s>]: run the current image with runc',
  run: async (args) => runContainer(parseRunOptions(args)),
};

export function parseRunOptions(args: string[]): RunOptions {
  const values = parseOptions('run', args, {
    store: { type: 'string' },
    name: { type: 'string', default: DEFAULT_CONTAINER_NAME },
    network: { type: 'string' },
    rootfs: { type: 'string', default: 'auto' },
    'stop-timeout': { type: 'string', default: String(DEFAULT_STOP_TIMEOUT_SECONDS) },
    detach: { type: 'boolean', default: false },
    'health-seconds': { type: 'string', default: String(DEFAULT_HEALTH_SECONDS) },
    config: { type: 'string' },
  });
  const name = parseContainerName('run', values.name);
  if (values.network !== undefined && values.network !== 'none' && values.network !== 'host') {
    throw new PrtiqlError('E_USAGE', 'run: --network is none or host');
  }
  if (values.rootfs !== 'auto' && values.rootfs !== 'overlay' && values.rootfs !== 'copy') {
    throw new PrtiqlError('E_USAGE', 'run: --rootfs is auto, overlay or copy');
  }
  return {
    store: requireOption('run', values.store, 'store'),
    name,
    ...(values.network !== undefined && { network: values.network }),
    rootfs: values.rootfs,
    stopTimeout: parseSeconds('run', 'stop-timeout', values['stop-timeout']),
    detach: values.detach,
    healthSeconds: parseSeconds('run', 'health-seconds', values['health-seconds']),
    ...(values.config !== undefined && { config: requireOption('run', values.config, 'config') }),
  };
}
