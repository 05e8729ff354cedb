import { rollBackByHand } from '../device-store/rollback.js';
import { JSON_OPTION, STORE_OPTION } from './common-options.js';
import { defineCommand } from './subcommand.js';

export const rollbackCommand = defineCommand({
  name: 'rollback',
  summary: 'make the previous release current again',
  description:
    'state.json and the current and previous pointers swap. Without --mark-bad nothing is recorded, and the next update installs the channel\'s release again; with it, the release left is recorded as failed in health.json and update refuses it until `applier health clear` (docs/running.md). The running container keeps running: restart the service to switch.',
  options: {
    store: STORE_OPTION,
    'mark-bad': { type: 'boolean', description: 'record the release left as failed: update never installs it again until it is cleared' },
    json: JSON_OPTION,
  },
  examples: ['applier rollback --store /var/lib/prtiql && systemctl restart prtiql', 'applier rollback --mark-bad --store /var/lib/prtiql'],
  async run(values) {
    const { from, to } = await rollBackByHand(values.store, values['mark-bad']);
    process.stdout.write(
      values.json
        ? `${JSON.stringify({ from, to }, null, 2)}\n`
        : `rolled back from version ${from.version} (${from.manifest}) to version ${to.version} (${to.manifest})\n`,
    );
    return 0;
  },
});
