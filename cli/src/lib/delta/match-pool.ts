import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { PrtiqlError } from '../../../../shared/errors.js';
import type { MatchJob, MatchMessage, PoolRequest } from './match-protocol.js';

/** A worker that ran a job larger than this is replaced: ending it is what surely returns its memory. */
const RECYCLE_AFTER_BYTES = 64 * 1024 * 1024;

/** The worker's module beside this one: .ts when run from source, .js when built. */
const WORKER_URL = new URL(`./match-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/**
 * Idle workers of closed pools, for the next pool of this process (a release plans each
 * image with a planner of its own): starting a worker costs more than most jobs. Unreferenced,
 * they never keep the process alive.
 */
const parked = new Set<Worker>();
const MAX_PARKED = availableParallelism();

function park(worker: Worker): boolean {
  if (parked.size >= MAX_PARKED) return false;
  parked.add(worker);
  return true;
}

function unpark(): Worker | undefined {
  const worker = parked.values().next().value as Worker | undefined;
  if (worker) parked.delete(worker);
  return worker;
}

/**
 * From source (the tests run TypeScript through tsx), the worker loads its module through tsx's
 * loader: workers do not inherit it.
 */
function spawnWorker(): Worker {
  const tsx = WORKER_URL.pathname.endsWith('.js') ? undefined : import.meta.resolve('tsx/esm/api');
  const worker = tsx
    ? new Worker(`import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`, { eval: true })
    : new Worker(WORKER_URL);
  worker.once('exit', () => parked.delete(worker));
  return worker;
}

export type MatchOutput = Exclude<MatchMessage, { type: 'done' } | { type: 'error' }>;

/** The messages of one started job, in order, as a worker delivers them. */
class JobOutput {
  private readonly queue: (MatchMessage | { type: 'crash'; error: Error })[] = [];
  private wake: (() => void) | undefined;
  acknowledge: () => void = () => {};

  push(message: MatchMessage | { type: 'crash'; error: Error }): void {
    this.queue.push(message);
    this.wake?.();
  }

  async *messages(): AsyncGenerator<MatchOutput> {
    for (;;) {
      while (this.queue.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
      const message = this.queue.shift()!;
      if (message.type === 'done') return;
      if (message.type === 'crash') throw message.error;
      if (message.type === 'error') throw new PrtiqlError(message.code ?? 'E_INTERNAL', message.message);
      yield message;
      if (message.type === 'part') this.acknowledge();
    }
  }
}

/**
 * Runs match jobs on worker threads within a memory budget: a job starts, in the order jobs
 * were started, when a worker is idle and the memory its shape needs is free; the memory is
 * released when the worker is done with it (jobs larger than RECYCLE_AFTER_BYTES also end
 * their worker, so that the memory surely returns). A job never needs more than the budget:
 * match-memory.ts sizes its shape to fit.
 */
export class MatchPool {
  private readonly idle: Worker[] = [];
  /** Every worker of this pool not yet ended or parked. */
  private readonly all = new Set<Worker>();
  private running = 0;
  private free: number;
  private readonly waiting: { job: MatchJob; output: JobOutput }[] = [];
  private closed = false;

  constructor(
    private readonly workers: number,
    private readonly budget: number,
  ) {
    this.free = budget;
  }

  /** Queues `job`; its messages come from the returned generator. */
  start(job: MatchJob): AsyncGenerator<MatchOutput> {
    if (job.shape.memory > this.budget) throw new PrtiqlError('E_INTERNAL', `a match of ${job.shape.memory} bytes exceeds the ${this.budget}-byte budget`);
    const output = new JobOutput();
    this.waiting.push({ job, output });
    this.dispatch();
    return output.messages();
  }

  /** Parks the idle workers and ends the busy ones (a job whose output nobody reads any more would wait forever). */
  async close(): Promise<void> {
    this.closed = true;
    for (const worker of this.idle.splice(0)) {
      if (park(worker)) this.all.delete(worker);
    }
    const ending = [...this.all];
    this.all.clear();
    await Promise.all(ending.map((worker) => worker.terminate()));
  }

  private dispatch(): void {
    while (!this.closed && this.waiting.length > 0 && this.running < this.workers && this.waiting[0]!.job.shape.memory <= this.free) {
      const { job, output } = this.waiting.shift()!;
      this.running++;
      this.free -= job.shape.memory;
      const worker = this.idle.pop() ?? this.spawn();
      worker.ref();
      this.execute(worker, job, output);
    }
  }

  private spawn(): Worker {
    const worker = unpark() ?? spawnWorker();
    this.all.add(worker);
    return worker;
  }

  private execute(worker: Worker, job: MatchJob, output: JobOutput): void {
    const finish = async (keep: boolean) => {
      worker.off('message', onMessage).off('error', onError);
      if (keep && !this.closed) {
        worker.unref();
        this.idle.push(worker);
      } else {
        this.all.delete(worker);
        await worker.terminate();
      }
      this.running--;
      this.free += job.shape.memory;
      this.dispatch();
    };
    const onMessage = (message: MatchMessage) => {
      output.push(message);
      if (message.type !== 'done' && message.type !== 'error') return;
      output.acknowledge = () => {};
      void finish(job.shape.memory <= RECYCLE_AFTER_BYTES);
    };
    const onError = (error: Error) => {
      output.push({ type: 'crash', error: new PrtiqlError('E_INTERNAL', `match worker failed: ${error.message}`, { cause: error }) });
      void finish(false);
    };
    worker.on('message', onMessage).on('error', onError);
    output.acknowledge = () => worker.postMessage({ type: 'ack' } satisfies PoolRequest);
    worker.postMessage({ type: 'job', job } satisfies PoolRequest);
  }
}
