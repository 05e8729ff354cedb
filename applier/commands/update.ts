import type { Platform } from '../../shared/oci.js';
import { PrtiqlError } from '../../shared/errors.js';
import { hostPlatform, parsePlatform } from '../../shared/platform.js';
import { createLogger } from '../log.js';
import { readDeviceConfig } from '../runtime/device-config.js';
import { DEFAULT_DEADLINE_SECONDS } from '../update/fetch/retry.js';
import { openSource, readAuthorizationFile } from '../update/fetch/source.js';
import { useLeanRuntime } from '../update/lean-runtime.js';
import { checkForUpdate } from '../update/check.js';
import { update } from '../update/update.js';
import { describeUpdateCheck } from './update-check.js';
import { parseOptions, requireOption, type Subcommand } from './subcommand.js';

/** --platform, else the device config's `platform`, else the platform Node reports. */
async function devicePlatform(option: string | undefined, configPath: string | undefined): Promise<Platform> {
  if (option === undefined) return (await readDeviceConfig(configPath)).platform ?? hostPlatform();
  try {
    return parsePlatform(option);
  } catch (error) {
    throw new PrtiqlError('E_USAGE', `update: ${(error as Error).message}`);
  }
}

export const updateCommand: Subcommand = {
  summary:
    'update --source <url> --channel <name> --store <dir> [--trust <root.json>] [--device-class <class>] [--platform <os/arch[/variant]>] [--config <device.json>] [--auth-file <file>] [--deadline <seconds>] [--check] [--json]: install the newest signed release (--check: only say what it would download)',
  async run(args) {
    useLeanRuntime();
    const values = parseOptions('update', args, {
      source: { type: 'string' },
      channel: { type: 'string' },
      store: { type: 'string' },
      trust: { type: 'string' },
      'device-class': { type: 'string' },
      platform: { type: 'string' },
      config: { type: 'string' },
      'auth-file': { type: 'string' },
      deadline: { type: 'string' },
      check: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    });
    const log = createLogger();
    const deadlineSeconds = values.deadline === undefined ? DEFAULT_DEADLINE_SECONDS : Number(values.deadline);
    if (!Number.isSafeInteger(deadlineSeconds) || deadlineSeconds < 1) throw new PrtiqlError('E_USAGE', 'update: --deadline must be a whole number of seconds');
    const source = openSource(requireOption('update', values.source, 'source'), {
      authorization: values['auth-file'] === undefined ? undefined : await readAuthorizationFile(values['auth-file']),
      retry: {
        deadline: Date.now() + deadlineSeconds * 1000,
        onRetry: ({ what, attempt, delayMs, error }) => log.warn('network.retry', { what, attempt, delayMs, error: error.message }),
      },
    });
    const request = {
      source,
      channel: requireOption('update', values.channel, 'channel'),
      storeRoot: requireOption('update', values.store, 'store'),
      trustPath: values.trust,
      deviceClass: values['device-class'],
      platform: await devicePlatform(values.platform, values.config),
      log,
    };
    if (values.check) {
      const check = await checkForUpdate(request);
      process.stdout.write(`${values.json ? JSON.stringify(check) : describeUpdateCheck(check)}\n`);
      return 0;
    }
    const outcome = await update(request);
    process.stdout.write(
      values.json
        ? `${JSON.stringify(outcome)}\n`
        : outcome.changed
        ? `channel ${outcome.channel} updated to version ${outcome.version} (${outcome.manifest}, ${outcome.layersInstalled} layer(s) installed)\n`
        : `channel ${outcome.channel} is already at version ${outcome.version}; nothing to do\n`,
    );
    return 0;
  },
};
