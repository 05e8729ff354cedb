import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './cli-run.js';
import { measure, type Measured } from './measure.js';
import { dropPageCache } from './page-cache.js';
import type { PairPublisher } from './publish.js';
import { withWritePressure } from './write-pressure.js';

export interface InstallResult {
  seconds: number;
  maxRssKiB: number;
  /** Largest Dirty + Writeback of /proc/meminfo sampled during the install. */
  peakDirtyKiB: number;
}

export interface DeltaInstallResult extends InstallResult {
  via: 'delta' | 'full';
}

export interface InstallSection {
  delta: DeltaInstallResult;
  full: InstallResult;
  gunzipTar: InstallResult;
}

/** How the applier says it installed the layer: its `layer.installed` log line. */
function installedVia(log: string): 'delta' | 'full' {
  const installed = log
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { event?: string; via?: string })
    .find((entry) => entry.event === 'layer.installed');
  if (!installed) throw new Error(`the applier logged no layer.installed event:\n${log.slice(-2000)}`);
  return installed.via === 'delta' ? 'delta' : 'full';
}

const figures = ({ seconds, maxRssKiB, peakDirtyKiB }: InstallResult): InstallResult => ({ seconds, maxRssKiB, peakDirtyKiB });

function measuredInstall(argv: string[]): InstallResult & Pick<Measured, 'stderr'> {
  const { result, peakDirtyKiB } = withWritePressure(() => measure(argv));
  return { ...result, peakDirtyKiB };
}

/**
 * Device stores of one pair on the scratch file system: one follows the channel from version 1
 * so that version 2 arrives as a delta; a fresh one installs version 2 in full; and
 * `gzip -dc | tar -x && sync -f` extracts the same blob. Page caches are dropped before each.
 */
export class DeviceBench {
  private readonly deltaDevice: string;
  private readonly fullDevice: string;
  private readonly extracted: string;

  constructor(
    private readonly applier: string[],
    private readonly publisher: PairPublisher,
    scratch: string,
  ) {
    this.deltaDevice = join(scratch, 'delta-device');
    this.fullDevice = join(scratch, 'full-device');
    this.extracted = join(scratch, 'gunzip-tar');
  }

  /** Installs version 1 on the device that will later take the delta (not measured), after what an interrupted run left. */
  installBase(): void {
    this.clear();
    run(this.update(this.deltaDevice));
  }

  clear(): void {
    for (const dir of [this.deltaDevice, this.fullDevice, this.extracted]) rmSync(dir, { recursive: true, force: true });
  }

  /** Measures the three installs of version 2, whose layer blob is `blob`. */
  measureInstalls(blob: string): InstallSection {
    const delta = this.measuredUpdate(this.deltaDevice);
    const via = installedVia(delta.stderr);
    const full = this.measuredUpdate(this.fullDevice);
    mkdirSync(this.extracted);
    dropPageCache();
    const gunzipTar = measuredInstall(['sh', '-c', 'gzip -dc "$1" | tar -x -C "$2" && sync -f "$2"', 'sh', blob, this.extracted]);
    this.clear();
    return { delta: { ...figures(delta), via }, full: figures(full), gunzipTar: figures(gunzipTar) };
  }

  private update(device: string): string[] {
    return [...this.applier, 'update', '--source', this.publisher.storeUrl, '--channel', 'bench', '--store', device, '--trust', this.publisher.trustPath];
  }

  private measuredUpdate(device: string): InstallResult & Pick<Measured, 'stderr'> {
    dropPageCache();
    const measured = measuredInstall(this.update(device));
    const status = JSON.parse(run([...this.applier, 'status', '--store', device, '--json']));
    if (status.installed?.version !== 2) throw new Error(`the device at ${device} did not reach version 2`);
    return measured;
  }
}
