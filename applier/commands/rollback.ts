import { rollBackByHand } from '../device-store/rollback.js';
import { JSON_OPTION, STORE_OPTION } from './common-options.js';
import { defineCommand } from './subcommand.js';

export const rollbackCommand = defineCommand({
  name: 'rollback',
  summary: 'make the previous release current again and never reinstall the current one',
  description:
    'The current release is recorded as failed in health.json, so update refuses it from then on; state.json and the current and previous pointers swap. The running container keeps running: restart the service to switch.',
  options: { store: STORE_OPTION, json: JSON_OPTION },
  examples: ['applier rollback --store /var/lib/prtiql && systemctl restart prtiql'],
  async run(values) {
    const { from, to } = await rollBackByHand(values.store);
    process.stdout.write(
      values.json
        ? `${JSON.stringify({ from, to }, null, 2)}\n`
        : `rolled back from version ${from.version} (${from.manifest}) to version ${to.version} (${to.manifest})\n`,
    );
    return 0;
  },
});
