import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';

const BAR_WIDTH = 24;

/** A progress bar on a terminal, or one start and one end line when stderr is a pipe. */
export class Progress {
  private done = 0;
  private lastDraw = 0;
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private total: number | undefined,
    private readonly out: Writable | undefined,
  ) {
    this.tty = Boolean(out && (out as { isTTY?: boolean }).isTTY);
    if (out && !this.tty) out.write(`${label}...\n`);
  }

  setTotal(total: number): void {
    this.total = total;
  }

  advance(amount: number): void {
    this.done += amount;
    const now = Date.now();
    if (this.tty && now - this.lastDraw > 100) {
      this.lastDraw = now;
      this.draw();
    }
  }

  finish(summary?: string): void {
    if (!this.out) return;
    if (this.tty) this.out.write('\r\x1b[K');
    this.out.write(`${this.label}: ${summary ?? 'done'}\n`);
  }

  private draw(): void {
    const total = this.total ?? 0;
    const fraction = total > 0 ? Math.min(1, this.done / total) : 0;
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = total > 0 ? `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${Math.round(fraction * 100)}%` : `${this.done}`;
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
