import type { InstalledRelease } from '../device-store/device-store.js';
import { storeStatus, type StoreStatus } from '../device-store/status.js';
import { JSON_OPTION, STORE_OPTION } from './common-options.js';
import { defineCommand } from './subcommand.js';

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

export const statusCommand = defineCommand({
  name: 'status',
  summary: 'show the installed release, the previous one, the current image and its health',
  description: 'Reads the store and changes nothing; it does not take the store lock, so it answers while an update runs.',
  options: { store: STORE_OPTION, json: JSON_OPTION },
  examples: ['applier status --store /var/lib/prtiql', 'applier status --store /var/lib/prtiql --json'],
  async run(values) {
    const status = await storeStatus(values.store);
    process.stdout.write(`${values.json ? JSON.stringify(status, null, 2) : describe(status)}\n`);
    return 0;
  },
});
