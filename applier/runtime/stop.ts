import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDigest } from '../../shared/digest.js';
import { PrtiqlError } from '../../shared/errors.js';
import { containerBundle, hasMarker, removeContainer, setMarker } from './container-bundle.js';
import { createLogger, type Logger } from '../log.js';
import { lstatIfExists } from '../../filesystem/layer-view.js';
import { isLive, runcStatus, stopContainerProcess } from './runc.js';
import { stopSignal } from '../../filesystem/runtime-spec.js';
import { DeviceStore } from '../device-store/device-store.js';
import { requireExecutable } from '../../filesystem/tool.js';

export interface StopOptions {
  store: string;
  name: string;
  /** Seconds between the stop signal and SIGKILL. */
  timeout: number;
}

/** How long `stop` waits for the applier that runs a foreground container to clean up after it. */
const OWNER_CLEANUP_WAIT_MS = 10_000;

/**
 * Sends the image's StopSignal, then KILL after the timeout. A detached container is then
 * deleted and its rootfs released; a foreground one is cleaned up by the applier that runs
 * it, which `stop` waits for. Nothing to stop is not an error.
 */
export async function stopContainer(options: StopOptions, log: Logger = createLogger()): Promise<number> {
  const store = await DeviceStore.open(options.store);
  const runc = await requireExecutable('runc');
  const bundle = containerBundle(store.root, options.name);
  const status = await runcStatus(runc, options.name);
  const bundleExists = (await lstatIfExists(bundle)) !== undefined;
  const detached = await hasMarker(bundle, 'detached');
  if (!isLive(status)) {
    if (status !== undefined || detached) await removeContainer(runc, options.name, bundle);
    log.info('container.not-running', { name: options.name, removed: status !== undefined || detached });
    return 0;
  }
  if (!bundleExists) throw new PrtiqlError('E_NOT_FOUND', `runc runs a container ${options.name}, but not one from ${store.root}`);
  await setMarker(bundle, 'stopping');
  const signal = await containerStopSignal(store, options.name);
  log.info('container.stopping', { name: options.name, signal });
  await stopContainerProcess(runc, options.name, signal, options.timeout * 1000, log);
  if (detached) {
    await removeContainer(runc, options.name, bundle);
  } else {
    const deadline = Date.now() + OWNER_CLEANUP_WAIT_MS;
    while ((await lstatIfExists(bundle)) && Date.now() < deadline) await sleep(100);
  }
  log.info('container.stopped', { name: options.name });
  return 0;
}

/** The StopSignal of the image the container was started from (kept by garbage collection). */
async function containerStopSignal(store: DeviceStore, name: string): Promise<NodeJS.Signals> {
  const digest = (await readFile(store.containerImagePath(name), 'utf8').catch(() => '')).trim();
  if (!isDigest(digest) || !(await store.hasImage(digest))) return 'SIGTERM';
  return stopSignal((await store.readImage(digest)).config.config ?? {});
}
