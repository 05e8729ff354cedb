import { printContainerLog } from '../runtime/logs.js';
import { CONTAINER_NAME_OPTION, parseContainerName } from './container-options.js';
import { STORE_OPTION } from './common-options.js';
import { defineCommand } from './subcommand.js';

export const logsCommand = defineCommand({
  name: 'logs',
  summary: 'print the output of a container started with run --detach',
  description: 'Prints <store>/containers/<id>.log.1, then <id>.log. A foreground container has no log file: its output is the applier\'s (journald under systemd).',
  options: {
    store: STORE_OPTION,
    name: CONTAINER_NAME_OPTION,
    follow: { type: 'boolean', description: 'keep printing new output until the container has stopped' },
  },
  examples: ['applier logs --store /var/lib/prtiql', 'applier logs --store /var/lib/prtiql --name web --follow'],
  async run(values) {
    return printContainerLog({ store: values.store, name: parseContainerName('logs', values.name), follow: values.follow }, process.stdout);
  },
});
