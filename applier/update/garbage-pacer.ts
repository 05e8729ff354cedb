import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Keeps the memory of streamed buffers bounded. Node frees a Buffer's memory only when V8
 * collects the Buffer object, and V8 schedules collections by the growth of its own heap,
 * which streaming barely grows: between two collections the decompressor's output buffers
 * and the network's input buffers pile up by tens of MiB. So a layer's stream asks for a
 * young-generation collection after every `intervalBytes` it moves (a fraction of a ms:
 * almost nothing there survives), and for a full one (a few ms) only when the buffers still
 * alive after it, those that lived long enough to be promoted, hold more than
 * `bufferLimitBytes`.
 *
 * Pacing is for the device's `update` process, which turns it on (paceGarbageCollection);
 * elsewhere (the tests' store checks read layers through the same basis reader) a pacer does
 * nothing. The collector is reached the way test runners reach it without a command-line
 * flag: `--expose-gc` is set at run time and `gc` taken from a fresh context. Where that
 * fails, the pacer does nothing and memory is bounded by V8's own heuristics only.
 */
export class GarbagePacer {
  private moved = 0;

  constructor(
    private readonly intervalBytes = 1024 * 1024,
    private readonly bufferLimitBytes = 4 * 1024 * 1024,
  ) {}

  account(bytes: number): void {
    this.moved += bytes;
    if (this.moved < this.intervalBytes) return;
    this.moved = 0;
    const gc = collector();
    if (!gc) return;
    gc({ type: 'minor' });
    if (process.memoryUsage().arrayBuffers > this.bufferLimitBytes) gc();
  }
}

type Collect = (options?: { type: 'minor' }) => void;

let paced = false;
let exposed: Collect | null | undefined;

/** Lets every pacer of this process collect garbage (see GarbagePacer). */
export function paceGarbageCollection(): void {
  paced = true;
}

function collector(): Collect | null {
  if (!paced) return null;
  if (exposed === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      const gc: unknown = runInNewContext('gc');
      exposed = typeof gc === 'function' ? (gc as Collect) : null;
    } catch {
      exposed = null;
    }
  }
  return exposed;
}
