import { rollBackByHand } from '../device-store/rollback.js';
import { parseOptions, requireOption, type Subcommand } from './subcommand.js';

export const rollbackCommand: Subcommand = {
  summary: 'rollback --store <dir>: make the previous release current again and never reinstall the current one',
  async run(args) {
    const values = parseOptions('rollback', args, { store: { type: 'string' } });
    const { from, to } = await rollBackByHand(requireOption('rollback', values.store, 'store'));
    process.stdout.write(`rolled back from version ${from.version} (${from.manifest}) to version ${to.version} (${to.manifest})\n`);
    return 0;
  },
};
