import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';

const BAR_WIDTH = 24;

/** How often a pipe (a CI log) gets a line while a step runs: often enough to show it is alive, seldom enough to stay readable. */
export const PIPE_PROGRESS_INTERVAL_MS = 10_000;

export interface ProgressOptions {
  /** Milliseconds between progress lines on a pipe. */
  interval?: number;
  /** The clock, in milliseconds. */
  now?: () => number;
}

/**
 * A progress bar on a terminal. On a pipe (a CI log): a start line, a line every `interval`
 * while the step runs (bytes done, or the time spent when a step reports no bytes, like a
 * delta computation), and an end line.
 */
export class Progress {
  private done = 0;
  private lastDraw = 0;
  private lastLine: number;
  private readonly started: number;
  private readonly heartbeat?: NodeJS.Timeout;
  private readonly tty: boolean;
  private readonly interval: number;
  private readonly now: () => number;

  constructor(
    private readonly label: string,
    private total: number | undefined,
    private readonly out: Writable | undefined,
    options: ProgressOptions = {},
  ) {
    this.tty = Boolean(out && (out as { isTTY?: boolean }).isTTY);
    this.interval = options.interval ?? PIPE_PROGRESS_INTERVAL_MS;
    this.now = options.now ?? Date.now;
    this.started = this.lastLine = this.now();
    if (out && !this.tty) {
      out.write(`${label}...\n`);
      // unref: a step that fails before finish() never keeps the process alive
      this.heartbeat = setInterval(() => this.report(), this.interval).unref();
    }
  }

  setTotal(total: number): void {
    this.total = total;
  }

  advance(amount: number): void {
    this.done += amount;
    if (!this.out) return;
    const now = this.now();
    if (this.tty && now - this.lastDraw > 100) {
      this.lastDraw = now;
      this.draw();
    } else if (!this.tty) {
      this.report();
    }
  }

  finish(summary?: string): void {
    clearInterval(this.heartbeat);
    if (!this.out) return;
    if (this.tty) this.out.write('\r\x1b[K');
    this.out.write(`${this.label}: ${summary ?? 'done'}\n`);
  }

  private fraction(): number | undefined {
    return this.total ? Math.min(1, this.done / this.total) : undefined;
  }

  /** A line on a pipe once `interval` has passed since the last. */
  private report(): void {
    const now = this.now();
    if (now - this.lastLine < this.interval) return;
    this.lastLine = now;
    const state = this.done > 0 ? this.amountDone() : `working, ${Math.round((now - this.started) / 1000)} s`;
    this.out!.write(`${this.label}: ${state}\n`);
  }

  /** "N of M bytes (P%)", or "N bytes" when the total is unknown. */
  private amountDone(): string {
    const fraction = this.fraction();
    return fraction === undefined ? `${this.done} bytes` : `${this.done} of ${this.total} bytes (${Math.round(fraction * 100)}%)`;
  }

  private draw(): void {
    const fraction = this.fraction();
    const filled = Math.round((fraction ?? 0) * BAR_WIDTH);
    const bar = fraction === undefined ? `${this.done}` : `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${Math.round(fraction * 100)}%`;
    this.out!.write(`\r\x1b[K${this.label} ${bar}`);
  }
}

/** Makes the progress display for one step (a label and, when known, its total bytes). */
export type ProgressFactory = (label: string, total?: number) => Progress;

/** Progress that shows nothing: library callers that pass no factory. */
export const silentProgress: ProgressFactory = (label, total) => new Progress(label, total, undefined);

/** Passes `source` through, advancing `progress` by every chunk; errors of `source` carry over. */
export function countProgress(source: Readable, progress: Progress): Readable {
  const counter = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      progress.advance(chunk.byteLength);
      callback(null, chunk);
    },
  });
  source.on('error', (error) => counter.destroy(error));
  return source.pipe(counter);
}
