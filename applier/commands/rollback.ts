import { rollBackByHand } from '../device-store/rollback.js';
import { parseOptions, requireOption, type Subcommand } from './subcommand.js';

export const rollbackCommand: Subcommand = {
  summary: 'rollback --store <dir> [--mark-bad]: make the previous release current again; --mark-bad: never reinstall the one left',
  async run(args) {
    const values = parseOptions('rollback', args, { store: { type: 'string' }, 'mark-bad': { type: 'boolean', default: false } });
    const { from, to } = await rollBackByHand(requireOption('rollback', values.store, 'store'), values['mark-bad']);
    process.stdout.write(`rolled back from version ${from.version} (${from.manifest}) to version ${to.version} (${to.manifest})\n`);
    return 0;
  },
};
