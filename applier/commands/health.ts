import { isDigest } from '../../shared/digest.js';
import { PrtiqlError } from '../../shared/errors.js';
import { DeviceStore } from '../device-store/device-store.js';
import { setVerdictByHand, type ReleaseName, type VerdictByHand } from '../device-store/verdict.js';
import { createLogger } from '../log.js';
import { parseOptions, requireOption, type Subcommand } from './subcommand.js';

const ACTIONS: Record<string, { verdict: VerdictByHand; done: string }> = {
  'mark-good': { verdict: 'good', done: 'marked good: run does not check it, update installs it' },
  'mark-bad': { verdict: 'bad', done: 'marked bad: update refuses it, run rolls back from it' },
  clear: { verdict: 'clear', done: 'verdict cleared: run checks its next start, update installs it' },
};

const USAGE = 'health mark-good|mark-bad|clear <version|manifest digest> --store <dir>';

export const healthCommand: Subcommand = {
  summary: `${USAGE}: record a release as healthy or failed by hand, or forget its verdict`,
  async run(args) {
    const [actionName, releaseName, ...rest] = args;
    const action = actionName !== undefined && Object.hasOwn(ACTIONS, actionName) ? ACTIONS[actionName] : undefined;
    if (!action) throw new PrtiqlError('E_USAGE', `health: the first argument is mark-good, mark-bad or clear; usage: applier ${USAGE}`);
    const name = parseReleaseName(releaseName);
    const values = parseOptions('health', rest, { store: { type: 'string' } });
    const store = await DeviceStore.open(requireOption('health', values.store, 'store'));
    const release = await setVerdictByHand(store, name, action.verdict);
    createLogger().info('health.set-by-hand', { verdict: action.verdict, version: release.version, manifest: release.manifest });
    process.stdout.write(`release ${release.version === null ? '' : `version ${release.version} `}(${release.manifest}) ${action.done}\n`);
    return 0;
  },
};

function parseReleaseName(text: string | undefined): ReleaseName {
  if (text !== undefined && /^[1-9][0-9]{0,15}$/.test(text) && Number.isSafeInteger(Number(text))) return { version: Number(text) };
  if (isDigest(text)) return { manifest: text };
  throw new PrtiqlError('E_USAGE', `health: name the release by its version (a positive integer) or its manifest digest (sha256:<64 hex>), not ${JSON.stringify(text ?? '')}`);
}
