import type { InstalledRelease } from '../device-store/device-store.js';
import { storeStatus, type StoreStatus } from '../device-store/status.js';
import { parseOptions, requireOption, type Subcommand } from './subcommand.js';

function describe(status: StoreStatus): string {
  const release = (r: InstalledRelease | null) => (r ? `version ${r.version} (${r.manifest})` : 'none');
  return [
    `store:     ${status.store}`,
    `channel:   ${status.channel ?? 'none'}`,
    `installed: ${release(status.installed)}`,
    `previous:  ${release(status.previous)}`,
    `layers:    ${status.current ? status.current.layers.map((layer) => layer.diffID).join(' ') : 'none'}`,
    `health:    ${status.health.current ?? 'none'}`,
    ...status.health.failed.map(
      (failure) => `failed:    ${failure.version === null ? '' : `version ${failure.version} `}(${failure.manifest}) at ${failure.at}: ${failure.reason}`,
    ),
  ].join('\n');
}

export const statusCommand: Subcommand = {
  summary: 'status --store <dir> [--json]: show the installed release and the current image',
  async run(args) {
    const values = parseOptions('status', args, { store: { type: 'string' }, json: { type: 'boolean', default: false } });
    const status = await storeStatus(requireOption('status', values.store, 'store'));
    process.stdout.write(`${values.json ? JSON.stringify(status, null, 2) : describe(status)}\n`);
    return 0;
  },
};
