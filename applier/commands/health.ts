import { isDigest } from '../../shared/digest.js';
import { PrtiqlError } from '../../shared/errors.js';
import { DeviceStore } from '../device-store/device-store.js';
import { setVerdictByHand, type ReleaseName, type VerdictByHand } from '../device-store/verdict.js';
import { createLogger } from '../log.js';
import { JSON_OPTION, STORE_OPTION } from './common-options.js';
import { defineCommand } from './subcommand.js';

const ACTIONS = {
  'mark-good': { verdict: 'good', done: 'marked good: run does not check it, update installs it' },
  'mark-bad': { verdict: 'bad', done: 'marked bad: update refuses it, run rolls back from it' },
  clear: { verdict: 'clear', done: 'verdict cleared: run checks its next start, update installs it' },
} as const satisfies Record<string, { verdict: VerdictByHand; done: string }>;

export const healthCommand = defineCommand({
  name: 'health',
  summary: 'record a release as healthy or failed by hand, or forget its verdict',
  description:
    'mark-good: run does not health-check the release, update installs it. mark-bad: update refuses it (E_RELEASE_FAILED) and, if it is current, the next run rolls back from it. clear: its verdict is forgotten, update installs it again and run checks its next first start. Changes health.json under the store lock; a running container is not touched.',
  positionals: [
    { name: 'action', description: 'what to record', required: true, choices: Object.keys(ACTIONS) },
    {
      name: 'release',
      description: 'its version (installed, previous, or in health.json), or its image\'s manifest digest sha256:<64 hex>, which also names a release not installed yet',
      required: true,
    },
  ],
  options: { store: STORE_OPTION, json: JSON_OPTION },
  examples: ['applier health clear 2 --store /var/lib/prtiql', 'applier health mark-good 3 --store /var/lib/prtiql', 'applier health mark-bad sha256:<digest> --store /var/lib/prtiql'],
  async run(values, [action, releaseName]) {
    const { verdict, done } = ACTIONS[action as keyof typeof ACTIONS];
    const name = parseReleaseName(releaseName!);
    const release = await setVerdictByHand(await DeviceStore.open(values.store), name, verdict);
    createLogger().info('health.set-by-hand', { verdict, version: release.version, manifest: release.manifest });
    process.stdout.write(
      values.json
        ? `${JSON.stringify({ ...release, verdict }, null, 2)}\n`
        : `release ${release.version === null ? '' : `version ${release.version} `}(${release.manifest}) ${done}\n`,
    );
    return 0;
  },
});

function parseReleaseName(text: string): ReleaseName {
  if (/^[1-9][0-9]{0,15}$/.test(text) && Number.isSafeInteger(Number(text))) return { version: Number(text) };
  if (isDigest(text)) return { manifest: text };
  throw new PrtiqlError('E_USAGE', `health: <release> is a version (a positive integer) or a manifest digest (sha256:<64 hex>), not ${JSON.stringify(text)} (see applier health --help)`);
}
