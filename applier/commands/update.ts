import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Platform } from '../../shared/oci.js';
import { PrtiqlError } from '../../shared/errors.js';
import { hostPlatform, parsePlatform } from '../../shared/platform.js';
import { DeviceStore } from '../device-store/device-store.js';
import { createLogger } from '../log.js';
import { DEFAULT_DEVICE_CONFIG_PATH, readDeviceConfig } from '../runtime/device-config.js';
import { DEFAULT_DEADLINE_SECONDS } from '../update/fetch/retry.js';
import { openSource, readAuthorizationFile } from '../update/fetch/source.js';
import { paceGarbageCollection } from '../update/garbage-pacer.js';
import { useLeanRuntime } from '../update/lean-runtime.js';
import { checkForUpdate } from '../update/check.js';
import { update } from '../update/update.js';
import { sourceUrl } from './source-url.js';
import { JSON_OPTION, STORE_OPTION } from './common-options.js';
import { defineCommand } from './subcommand.js';
import { describeUpdateCheck } from './update-check.js';

/** --platform, else the device config's `platform`, else the platform Node reports; a given --config is read either way. */
async function devicePlatform(option: string | undefined, configPath: string | undefined): Promise<Platform> {
  const config = option === undefined || configPath !== undefined ? await readDeviceConfig(configPath) : undefined;
  if (option === undefined) return config?.platform ?? hostPlatform();
  try {
    return parsePlatform(option);
  } catch (error) {
    throw new PrtiqlError('E_USAGE', `update: --platform: ${(error as Error).message}`);
  }
}

/** A file source must be a directory that exists now: found out before the store is created, not after. */
async function checkFileSource(url: string): Promise<void> {
  if (!url.startsWith('file:')) return;
  const path = fileURLToPath(url);
  const isDirectory = await stat(path).then((info) => info.isDirectory(), () => false);
  if (!isDirectory) throw new PrtiqlError('E_NOT_FOUND', `update: --source ${path} is not a directory`);
}

/** The first update of a store pins --trust; without it there is nothing to verify against, and nothing to create the store for. */
async function checkTrustAvailable(store: string, trust: string | undefined): Promise<void> {
  if (trust !== undefined) return;
  if (!(await DeviceStore.hasPinnedTrustRoot(store))) throw new PrtiqlError('E_USAGE', `update: ${store} has no pinned trust root yet: pass --trust <root.json>`);
}

export const updateCommand = defineCommand({
  name: 'update',
  summary: 'install the newest signed release of a channel into the device store',
  description:
    'Verifies the channel\'s signed release against the pinned trust root, installs the layers the device lacks (from a delta where one is published and usable, else in full), then makes the new image current. The store is created on the first update, which pins --trust. Exits 0 when the store is up to date, whether or not anything was installed.',
  options: {
    source: {
      type: 'string',
      placeholder: 'url',
      required: true,
      description:
        'the artifact store: https://, http://, docker://<registry>/<repository>, file:///absolute/dir, file://./relative/dir, or a plain directory path (relative to the working directory)',
    },
    channel: { type: 'string', placeholder: 'name', required: true, description: 'the release channel to follow; a store follows one channel for good' },
    store: STORE_OPTION,
    trust: { type: 'string', placeholder: 'root.json', description: 'trust root to pin on the first update, or a signed successor of the pinned one' },
    'device-class': { type: 'string', placeholder: 'class', description: 'this device\'s class: releases made for another class are refused' },
    platform: {
      type: 'string',
      placeholder: 'os/arch[/variant]',
      description: 'the image to install from a multi-platform release (default: the device config\'s platform, else the one Node reports)',
    },
    config: { type: 'string', placeholder: 'device.json', description: `the device config (default ${DEFAULT_DEVICE_CONFIG_PATH} if it exists), read for its platform` },
    'auth-file': { type: 'string', placeholder: 'file', description: 'a file holding the Authorization header value sent to the source (e.g. "Bearer <token>")' },
    deadline: {
      type: 'string',
      placeholder: 'seconds',
      default: String(DEFAULT_DEADLINE_SECONDS),
      description: 'stop retrying network failures after this many seconds',
    },
    check: { type: 'boolean', description: 'only say what an update would download (per layer: delta or full, bytes), changing nothing on the device' },
    json: JSON_OPTION,
  },
  environment: {
    PRTIQL_REGISTRY_USERNAME: 'user name for a docker:// source (with PRTIQL_REGISTRY_PASSWORD)',
    PRTIQL_REGISTRY_PASSWORD: 'password or token for a docker:// source',
  },
  examples: [
    'applier update --source https://updates.example.com/store --channel stable --store /var/lib/prtiql --trust /etc/prtiql/root.json',
    'applier update --source ./artifacts --channel beta --store /var/lib/prtiql --json',
    'applier update --source https://updates.example.com/store --channel stable --store /var/lib/prtiql --check',
    'applier update --source docker://registry.example.com/acme/app --channel stable --store /var/lib/prtiql --log-level warn',
  ],
  async run(values) {
    const deadlineSeconds = Number(values.deadline);
    if (!Number.isSafeInteger(deadlineSeconds) || deadlineSeconds < 1) throw new PrtiqlError('E_USAGE', 'update: --deadline must be a whole number of seconds');
    useLeanRuntime();
    paceGarbageCollection();
    const log = createLogger();
    const url = sourceUrl(values.source);
    const source = openSource(url, {
      authorization: values['auth-file'] === undefined ? undefined : await readAuthorizationFile(values['auth-file']),
      retry: {
        deadline: Date.now() + deadlineSeconds * 1000,
        onRetry: ({ what, attempt, delayMs, error }) => log.warn('network.retry', { what, attempt, delayMs, error: error.message }),
      },
    });
    const platform = await devicePlatform(values.platform, values.config);
    await checkFileSource(url);
    await checkTrustAvailable(values.store, values.trust);
    const request = { source, channel: values.channel, storeRoot: values.store, trustPath: values.trust, deviceClass: values['device-class'], platform, log };
    if (values.check) {
      const check = await checkForUpdate(request);
      process.stdout.write(`${values.json ? JSON.stringify(check, null, 2) : describeUpdateCheck(check)}\n`);
      return 0;
    }
    const outcome = await update(request);
    if (values.json) process.stdout.write(`${JSON.stringify(outcome, null, 2)}\n`);
    else
      process.stdout.write(
        outcome.changed
          ? `channel ${outcome.channel} updated to version ${outcome.version} (${outcome.manifest}, ${outcome.layersInstalled} layer(s) installed)\n`
          : `channel ${outcome.channel} is already at version ${outcome.version}; nothing to do\n`,
      );
    return 0;
  },
});
