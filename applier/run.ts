import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { PrtiqlError } from '../shared/errors.js';
import type { ImageConfig } from '../shared/oci.js';
import { parseOptions, requireOption, type Subcommand } from './command.js';
import { readImageFile } from './layer-view.js';
import { createLogger, type Logger } from './log.js';
import { assembleRootfs, releaseRootfs, type RootfsMode } from './rootfs.js';
import { runtimeSpec, stopSignal, type NetworkMode } from './runtime-bundle.js';
import { SignalRelay } from './signal-relay.js';
import { Store, type StoredImage } from './store.js';
import { requireExecutable, runTool } from './tool.js';

export interface RunOptions {
  store: string;
  /** Container id for runc; also the hostname and the bundle directory's name. */
  name: string;
  network: NetworkMode;
  rootfs: RootfsMode;
  /** Seconds a container may take to stop after a relayed stop request before it is killed. */
  stopTimeout: number;
}

export const DEFAULT_CONTAINER_NAME = 'prtiql';
export const DEFAULT_STOP_TIMEOUT_SECONDS = 10;

const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/;
const ACCOUNTS_FILE_LIMIT = 1024 * 1024;

export const runCommand: Subcommand = {
  summary:
    'run --store <dir> [--name <id>] [--network none|host] [--rootfs auto|overlay|copy] [--stop-timeout <s>]: run the current image with runc',
  run: async (args) => runContainer(parseRunOptions(args)),
};

export function parseRunOptions(args: string[]): RunOptions {
  const values = parseOptions('run', args, {
    store: { type: 'string' },
    name: { type: 'string', default: DEFAULT_CONTAINER_NAME },
    network: { type: 'string', default: 'none' },
    rootfs: { type: 'string', default: 'auto' },
    'stop-timeout': { type: 'string', default: String(DEFAULT_STOP_TIMEOUT_SECONDS) },
  });
  if (!CONTAINER_NAME.test(values.name)) {
    throw new PrtiqlError('E_USAGE', `run: --name must be letters, digits, '_', '.', '+' or '-': ${JSON.stringify(values.name)}`);
  }
  if (values.network !== 'none' && values.network !== 'host') throw new PrtiqlError('E_USAGE', 'run: --network is none or host');
  if (values.rootfs !== 'auto' && values.rootfs !== 'overlay' && values.rootfs !== 'copy') {
    throw new PrtiqlError('E_USAGE', 'run: --rootfs is auto, overlay or copy');
  }
  const stopTimeout = Number(values['stop-timeout']);
  if (values['stop-timeout'].trim() === '' || !Number.isFinite(stopTimeout) || stopTimeout < 0) {
    throw new PrtiqlError('E_USAGE', 'run: --stop-timeout is a number of seconds');
  }
  return {
    store: requireOption('run', values.store, 'store'),
    name: values.name,
    network: values.network,
    rootfs: values.rootfs,
    stopTimeout,
  };
}

/**
 * Runs the store's current image with runc in the foreground and returns the container's
 * exit status. The bundle lives in `<store>/containers/<name>/` and is removed afterwards,
 * together with runc's state: every run starts from the committed layers.
 */
export async function runContainer(options: RunOptions, log: Logger = createLogger()): Promise<number> {
  let config: ImageConfig | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let runc = 'runc';
  const relay = new SignalRelay(
    (signal) => (signal === 'SIGTERM' && config ? stopSignal(config.config ?? {}) : signal),
    () => {
      killTimer ??= setTimeout(() => {
        log.warn('container.stop-timeout', { name: options.name, seconds: options.stopTimeout });
        runTool(runc, ['kill', options.name, 'KILL']).catch((error: Error) => log.error('container.kill-failed', { message: error.message }));
      }, options.stopTimeout * 1000);
    },
  );
  try {
    const image = await currentImage(options.store);
    config = image.config;
    runc = await requireExecutable('runc');
    const layerDirs = image.layers.map((layer) => layer.path);
    const layersTopDown = [...layerDirs].reverse();
    const spec = runtimeSpec(image.config, {
      containerId: options.name,
      network: options.network,
      accounts: {
        passwd: (await readImageFile(layersTopDown, 'etc/passwd', ACCOUNTS_FILE_LIMIT))?.toString(),
        group: (await readImageFile(layersTopDown, 'etc/group', ACCOUNTS_FILE_LIMIT))?.toString(),
      },
    });

    const containers = join(options.store, 'containers');
    const bundle = join(containers, options.name);
    await clearStaleContainer(runc, options.name, bundle);
    await mkdir(containers, { recursive: true, mode: 0o700 });
    await mkdir(bundle, { mode: 0o700 });
    try {
      const rootfs = await assembleRootfs(layerDirs, bundle, options.rootfs, (reason) => log.warn('container.rootfs-fallback', { reason }));
      await writeFile(join(bundle, 'config.json'), `${JSON.stringify(spec, null, 2)}\n`, { mode: 0o600 });
      if (relay.received.length > 0) return 128 + constants.signals[relay.received[0]];
      // its own process group: a terminal's Ctrl-C reaches the container once, through the relay
      const child = spawn(runc, ['run', '--bundle', bundle, options.name], { stdio: 'inherit', detached: true });
      relay.forwardTo(child);
      log.info('container.started', { name: options.name, image: image.manifestDigest, rootfs, bundle });
      const status = await exitStatusOf(child);
      log.info('container.exited', { name: options.name, status });
      return status;
    } finally {
      clearTimeout(killTimer);
      await runTool(runc, ['delete', '--force', options.name]);
      await releaseRootfs(bundle);
    }
  } finally {
    clearTimeout(killTimer);
    relay.close();
  }
}

function exitStatusOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}

/**
 * A bundle left by a crash or power loss is removed; a container of that name that runc
 * still runs belongs to another applier and is left alone.
 */
async function clearStaleContainer(runc: string, name: string, bundle: string): Promise<void> {
  const state = await runTool(runc, ['state', name]);
  if (state.status === 0) {
    const status = (JSON.parse(state.stdout) as { status?: string }).status;
    if (status === 'running' || status === 'paused') {
      throw new PrtiqlError('E_BUSY', `container ${name} is already ${status}`);
    }
    await runTool(runc, ['delete', '--force', name]);
  }
  await releaseRootfs(bundle);
}

async function currentImage(root: string): Promise<StoredImage> {
  const image = await (await Store.open(root)).pointedImage('current');
  if (!image) throw new PrtiqlError('E_NOT_FOUND', `no image is installed in ${root}`);
  for (const layer of image.layers) {
    const stats = await stat(layer.path).catch(() => undefined);
    if (!stats?.isDirectory()) throw new PrtiqlError('E_NOT_FOUND', `layer ${layer.diffID} of the current image is missing from ${root}`);
  }
  return image;
}
