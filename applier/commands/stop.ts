import { stopContainer } from '../runtime/stop.js';
import { CONTAINER_NAME_OPTION, DEFAULT_STOP_TIMEOUT_SECONDS, parseContainerName, parseSeconds } from './container-options.js';
import { STORE_OPTION } from './common-options.js';
import { defineCommand } from './subcommand.js';

export const stopCommand = defineCommand({
  name: 'stop',
  summary: 'stop a container (its StopSignal, then KILL) and remove it',
  description: 'Stopping a container that does not run exits 0. A foreground container is left to the applier that runs it, which cleans up itself.',
  options: {
    store: STORE_OPTION,
    name: CONTAINER_NAME_OPTION,
    timeout: {
      type: 'string',
      placeholder: 'seconds',
      default: String(DEFAULT_STOP_TIMEOUT_SECONDS),
      description: 'seconds to wait after the StopSignal before runc kill KILL',
    },
  },
  environment: { PATH: 'where runc and umount are looked up' },
  examples: ['applier stop --store /var/lib/prtiql', 'applier stop --store /var/lib/prtiql --name web --timeout 30'],
  async run(values) {
    return stopContainer({
      store: values.store,
      name: parseContainerName('stop', values.name),
      timeout: parseSeconds('stop', 'timeout', values.timeout),
    });
  },
});
