import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Digest } from '../../shared/digest.js';
import { isPrtiqlError, PrtiqlError } from '../../shared/errors.js';
import { MAX_ACCOUNTS_FILE_BYTES } from '../../shared/limits.js';
import { clearStaleContainer, containerBundle, createBundle, hasMarker, removeContainer, setMarker } from './container-bundle.js';
import { containerLogPaths, startLogWriter } from './container-log.js';
import { loadDeviceConfig, type DeviceConfig } from './device-config.js';
import { checkHealth, healthPlan, type HealthOutcome, type HealthPlan } from './health-check.js';
import { readHealthRecords, verdictOf } from '../device-store/health-record.js';
import { readImageFile } from '../../filesystem/layer-view.js';
import { createLogger, type Logger } from '../log.js';
import type { RootfsMode } from '../../filesystem/rootfs.js';
import { containerExitStatus, execInContainer, RUNC_LOG_FILE, stopContainerProcess, waitUntilStopped } from './runc.js';
import { runtimeSpec, stopSignal, type NetworkMode, type RuntimeSpec } from '../../filesystem/runtime-spec.js';
import { notifyServiceReady } from './service-notify.js';
import { SignalRelay } from './signal-relay.js';
import { DeviceStore, type StoredImage } from '../device-store/device-store.js';
import { requireExecutable, runTool } from '../../filesystem/tool.js';
import { markFailedAndRollBack, markHealthy, rollBack, rollbackTarget } from '../device-store/verdict.js';

export interface RunOptions {
  store: string;
  /** Container id for runc; also the hostname and the bundle directory's name. */
  name: string;
  /** --network; when absent the device config decides, else `none`. */
  network?: NetworkMode;
  rootfs: RootfsMode;
  /** Seconds a container may take to stop after a stop request before it is killed. */
  stopTimeout: number;
  /** Start the container and return once it has passed its health check (if it needs one). */
  detach: boolean;
  /** Seconds the first start of an image must stay up; 0 turns health checks and rollback off. */
  healthSeconds: number;
  /** --config; when absent /etc/prtiql/device.json is read if it exists. */
  config?: string;
}

interface Session {
  options: RunOptions;
  store: DeviceStore;
  runc: string;
  device: DeviceConfig;
  network: NetworkMode;
  log: Logger;
}

/** What one start of the current image ended in: an exit status, or a rollback to run next. */
type Attempt = number | 'rolled-back';

interface PreparedImage {
  image: StoredImage;
  spec: RuntimeSpec;
  stopSignal: NodeJS.Signals;
  /** How the first start is judged; absent when it is not. */
  plan?: HealthPlan;
}

/**
 * Runs the store's current image with runc and returns the exit status: in the foreground
 * the container's, detached 0 once it runs. The first start of an image is health-checked;
 * if it fails, `previous` becomes current again and runs instead (docs/running.md).
 */
export async function runContainer(options: RunOptions, log: Logger = createLogger()): Promise<number> {
  const store = await DeviceStore.open(options.store);
  const device = await loadDeviceConfig(options.config);
  if (options.detach && device.workload === 'job') {
    throw new PrtiqlError('E_USAGE', 'run --detach: the device config\'s workload is "job", whose exit status is its verdict; run it in the foreground');
  }
  const runc = await requireExecutable('runc');
  const session: Session = { options, store, runc, device, network: options.network ?? device.network ?? 'none', log };
  const foreground = options.detach ? undefined : new ForegroundSignals(session);
  try {
    for (;;) {
      const manifest = await store.pointer('current');
      if (!manifest) throw new PrtiqlError('E_NOT_FOUND', `no image is installed in ${options.store}`);
      const verdict = verdictOf(await readHealthRecords(store), manifest);
      // a crash may have interrupted a rollback after the failure was recorded
      if (verdict === 'failed' && (await rollBack(store, manifest, log))) continue;
      const check = verdict === undefined && options.healthSeconds > 0;
      const attempt = foreground ? await runInForeground(session, manifest, check, foreground) : await startDetached(session, manifest, check);
      if (attempt !== 'rolled-back') return attempt;
    }
  } finally {
    foreground?.close();
  }
}

/**
 * SIGTERM and SIGINT go to runc (SIGTERM as the image's StopSignal); a container still
 * running `stopTimeout` seconds after the first one is killed.
 */
class ForegroundSignals {
  readonly relay: SignalRelay;
  stopSignal: NodeJS.Signals = 'SIGTERM';
  private killTimer: NodeJS.Timeout | undefined;

  constructor(session: Session) {
    const { options, runc, log } = session;
    this.relay = new SignalRelay(
      (signal) => (signal === 'SIGTERM' ? this.stopSignal : signal),
      () => {
        this.killTimer ??= setTimeout(() => {
          log.warn('container.stop-timeout', { name: options.name, seconds: options.stopTimeout });
          runTool(runc, ['kill', options.name, 'KILL']).catch((error: Error) => log.error('container.kill-failed', { message: error.message }));
        }, options.stopTimeout * 1000);
      },
    );
  }

  get interrupted(): NodeJS.Signals | undefined {
    return this.relay.received[0];
  }

  close(): void {
    clearTimeout(this.killTimer);
    this.relay.close();
  }
}

async function runInForeground(session: Session, manifest: Digest, check: boolean, signals: ForegroundSignals): Promise<Attempt> {
  const { options, store, runc, log } = session;
  const bundle = containerBundle(store.root, options.name);
  const prepared = await prepareImage(session, manifest, check).catch((error: unknown) => failedStart(session, manifest, check, error));
  if (prepared === 'rolled-back') return prepared;
  signals.stopSignal = prepared.stopSignal;
  await clearStaleContainer(runc, options.name, bundle);
  try {
    const rootfs = await createBundle(store, options.name, prepared.image, prepared.spec, options.rootfs, warnFallback(log)).catch((error: unknown) =>
      failedStart(session, manifest, check, error),
    );
    if (rootfs === 'rolled-back') return rootfs;
    if (signals.interrupted) return 128 + constants.signals[signals.interrupted];
    // its own process group: a terminal's Ctrl-C reaches the container once, through the relay
    const runcLog = join(bundle, RUNC_LOG_FILE);
    const child = spawn(runc, ['--log', runcLog, '--log-format', 'json', 'run', '--bundle', bundle, options.name], { stdio: 'inherit', detached: true });
    signals.relay.forwardTo(child);
    log.info('container.started', { name: options.name, image: manifest, rootfs, bundle });
    const exited = exitStatusOf(child).then(async (runcStatus) => {
      const { status, runcError } = await containerExitStatus(runcStatus, runcLog);
      if (runcError !== undefined) log.error('container.runc-failed', { name: options.name, status, message: runcError });
      return status;
    });
    if (prepared.plan) {
      const outcome = await checkHealth(prepared.plan, checkedContainer(session, exited));
      const stopRequested = async () => signals.interrupted !== undefined || (await hasMarker(bundle, 'stopping'));
      if (await judge(session, manifest, prepared, outcome, stopRequested)) {
        await exited;
        return 'rolled-back';
      }
    }
    await notifyServiceReady(log);
    const status = await exited;
    log.info('container.exited', { name: options.name, status });
    return status;
  } finally {
    await removeContainer(runc, options.name, bundle);
  }
}

/**
 * `runc run --detach` with the container's output going to its rotating log file. Returns
 * 0 once the container runs and has passed its health check, or after a rollback to a
 * version that does.
 */
async function startDetached(session: Session, manifest: Digest, check: boolean): Promise<Attempt> {
  const { options, store, runc, log } = session;
  const bundle = containerBundle(store.root, options.name);
  const prepared = await prepareImage(session, manifest, check).catch((error: unknown) => failedStart(session, manifest, check, error));
  if (prepared === 'rolled-back') return prepared;
  await clearStaleContainer(runc, options.name, bundle);
  let keep = false;
  try {
    const rootfs = await createBundle(store, options.name, prepared.image, prepared.spec, options.rootfs, warnFallback(log)).catch((error: unknown) =>
      failedStart(session, manifest, check, error),
    );
    if (rootfs === 'rolled-back') return rootfs;
    await setMarker(bundle, 'detached');
    const logFile = containerLogPaths(store.root, options.name).current;
    const status = await runDetached(runc, bundle, options.name, logFile);
    const logHint = `see applier logs --store ${store.root} --name ${options.name}`;
    const { plan } = prepared;
    if (status !== 0 && !plan) throw new PrtiqlError('E_RUNTIME', `runc could not start container ${options.name} (exit status ${status}); ${logHint}`);
    if (status === 0) log.info('container.started', { name: options.name, image: manifest, rootfs, bundle, detached: true, log: logFile });
    if (status === 0 && !plan) {
      keep = true;
      return 0;
    }

    let outcome: HealthOutcome = { healthy: false, running: false, reason: `runc could not start the container (exit status ${status})` };
    if (status === 0 && plan) {
      const watching = new AbortController();
      const stopped = waitUntilStopped(runc, options.name, Number.POSITIVE_INFINITY, watching.signal).then(() => undefined);
      try {
        outcome = await checkHealth(plan, checkedContainer(session, stopped));
      } finally {
        watching.abort();
      }
    }
    const stopRequested = () => hasMarker(bundle, 'stopping');
    if (await judge(session, manifest, prepared, outcome, stopRequested)) return 'rolled-back';
    // still running, or `stop` is taking it down and cleans up after it
    if (outcome.healthy || outcome.running || (await stopRequested())) {
      keep = true;
      return 0;
    }
    throw new PrtiqlError('E_RUNTIME', `container ${options.name} failed its first start: ${outcome.reason}; ${logHint}`);
  } finally {
    if (!keep) await removeContainer(runc, options.name, bundle);
  }
}

/** The image, its runtime config, its stop signal and (when `check`) its health plan: what can be wrong with an image before it starts. */
async function prepareImage(session: Session, manifest: Digest, check: boolean): Promise<PreparedImage> {
  const { options, store, device, network } = session;
  const image = await store.readImage(manifest);
  const config = image.config.config ?? {};
  const layersTopDown = image.layers.map((layer) => layer.path).reverse();
  const spec = runtimeSpec(image.config, {
    containerId: options.name,
    network,
    host: device,
    accounts: {
      passwd: (await readImageFile(layersTopDown, 'etc/passwd', MAX_ACCOUNTS_FILE_BYTES))?.toString(),
      group: (await readImageFile(layersTopDown, 'etc/group', MAX_ACCOUNTS_FILE_BYTES))?.toString(),
    },
  });
  return { image, spec, stopSignal: stopSignal(config), ...(check && { plan: healthPlan(config, options.healthSeconds, device.workload ?? 'service') }) };
}

/**
 * An image that cannot even be started (bad config, missing layer) fails its first start
 * like one that crashes: recorded, and rolled back from where possible. Anything else, and
 * an image that already passed once, is the device's problem and is thrown.
 */
/**
 * A first start that fails before the container runs, for whatever reason but a busy store,
 * fails the image: rolling back beats a restart loop on an image that never starts.
 */
async function failedStart(session: Session, manifest: Digest, check: boolean, error: unknown): Promise<'rolled-back'> {
  if (check && !isPrtiqlError(error, 'E_BUSY') && (await markFailedAndRollBack(session.store, manifest, (error as Error).message, session.log))) return 'rolled-back';
  throw error;
}

/**
 * Records the verdict of a first start. A failed image that still runs is stopped if there
 * is a version to go back to, else it keeps running. A failure after a stop request is no
 * verdict at all. Returns true when `previous` is current now.
 */
async function judge(
  session: Session,
  manifest: Digest,
  prepared: PreparedImage,
  outcome: HealthOutcome,
  stopRequested: () => Promise<boolean>,
): Promise<boolean> {
  const { options, store, runc, log } = session;
  if (outcome.healthy) {
    log.info('health.passed', { name: options.name, image: manifest });
    // a long update holding the lock must not take a healthy container down: the next start checks again
    await markHealthy(store, manifest).catch((error: unknown) => {
      if (!isPrtiqlError(error, 'E_BUSY')) throw error;
      log.warn('health.not-recorded', { name: options.name, image: manifest, reason: error.message });
    });
    return false;
  }
  if (await stopRequested()) return false;
  if (outcome.running && (await rollbackTarget(store, manifest))) {
    await stopContainerProcess(runc, options.name, prepared.stopSignal, options.stopTimeout * 1000, log);
  }
  const target = await markFailedAndRollBack(store, manifest, outcome.reason, log);
  if (!target && outcome.running) log.warn('health.no-rollback', { name: options.name, image: manifest, reason: 'no healthy previous version; it keeps running' });
  return target !== undefined;
}

function checkedContainer(session: Session, stopped: Promise<number | undefined>) {
  return { stopped, exec: (args: string[], timeoutMs: number) => execInContainer(session.runc, session.options.name, args, timeoutMs) };
}

/** runc's stdout and stderr, and so the container's, go to the log writer. */
async function runDetached(runc: string, bundle: string, name: string, logFile: string): Promise<number> {
  const writer = startLogWriter(logFile);
  try {
    return await exitStatusOf(spawn(runc, ['run', '--detach', '--bundle', bundle, name], { stdio: ['ignore', writer.stdin, writer.stdin] }));
  } finally {
    writer.stdin.destroy();
  }
}

function warnFallback(log: Logger): (reason: string) => void {
  return (reason) => log.warn('container.rootfs-fallback', { reason });
}

function exitStatusOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}
