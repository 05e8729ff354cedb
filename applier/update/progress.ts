import type { Digest } from '../../shared/digest.js';
import type { Logger } from '../log.js';

/** How often progress is logged, and the clock it is measured with. */
export interface ProgressTiming {
  /** Least time between two periodic events; a phase change is logged at once. */
  intervalMs: number;
  /** Milliseconds, for intervals and rates only. */
  now(): number;
}

export const DEFAULT_PROGRESS_TIMING: ProgressTiming = { intervalMs: 5000, now: () => performance.now() };

/** `fetch`: the blob streams in and its layer is extracted; `commit`: the layer is made durable and moved into the store. */
export type ProgressPhase = 'fetch' | 'commit';

export interface LayerWork {
  /** 1 for the first layer this update installs. */
  index: number;
  diffID: Digest;
  via: 'delta' | 'full';
  /** The layer's tar size: what extraction works through. */
  tarBytes: number;
}

/**
 * An update's `update.progress` log events: bytes of blobs done out of all it downloads
 * (`resumed` of them taken from staged downloads), the current layer's extracted tar bytes,
 * the network rate since the last event and the time left at that rate. Logged when a layer
 * starts, when it commits, and in between at most once per interval.
 */
export class UpdateProgress {
  private bytes = 0;
  private resumed = 0;
  private network = 0;
  private tar = 0;
  private layer: LayerWork | undefined;
  private phase: ProgressPhase = 'fetch';
  private lastAt: number;
  private lastNetwork = 0;
  private rate: number | undefined;

  constructor(
    private readonly log: Logger,
    /** Blob bytes this update downloads, staged ones included. */
    private total: number,
    private readonly layers: number,
    private readonly timing: ProgressTiming = DEFAULT_PROGRESS_TIMING,
  ) {
    this.lastAt = timing.now();
  }

  startLayer(work: LayerWork): void {
    this.layer = work;
    this.tar = 0;
    this.enter('fetch');
  }

  /** A delta failed: its layer downloads in full as well. */
  addDownload(bytes: number): void {
    this.total += bytes;
  }

  /** Verified bytes read back from a staged download. */
  resumedBytes(count: number): void {
    this.bytes += count;
    this.resumed += count;
    this.tick();
  }

  /** Verified bytes from the source. */
  downloadedBytes(count: number): void {
    this.bytes += count;
    this.network += count;
    this.tick();
  }

  /** Tar bytes extracted into the current layer. */
  extractedBytes(count: number): void {
    this.tar += count;
    this.tick();
  }

  enter(phase: ProgressPhase): void {
    this.phase = phase;
    this.emit(this.timing.now());
  }

  private tick(): void {
    const now = this.timing.now();
    if (now - this.lastAt >= this.timing.intervalMs) this.emit(now);
  }

  private emit(now: number): void {
    const elapsed = now - this.lastAt;
    if (elapsed > 0) this.rate = ((this.network - this.lastNetwork) * 1000) / elapsed;
    this.lastAt = now;
    this.lastNetwork = this.network;
    const left = Math.max(0, this.total - this.bytes);
    const etaSeconds = left === 0 ? 0 : this.rate ? Math.ceil(left / this.rate) : null;
    this.log.info('update.progress', {
      phase: this.phase,
      layer: this.layer && `${this.layer.index}/${this.layers}`,
      diffID: this.layer?.diffID,
      via: this.layer?.via,
      bytes: this.bytes,
      total: this.total,
      resumed: this.resumed,
      tarBytes: this.tar,
      tarTotal: this.layer?.tarBytes,
      bytesPerSecond: this.rate === undefined ? null : Math.round(this.rate),
      etaSeconds,
    });
  }
}
