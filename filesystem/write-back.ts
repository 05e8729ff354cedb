import { flushFileSystem } from './durable.js';

/**
 * Keeps the dirty page cache a writer leaves small without stalling it: once `everyBytes`
 * have been written the file system holding `path` is synced in the background while writing
 * goes on; a writer that gets another `everyBytes` ahead waits for that sync to end first. So
 * at most about twice `everyBytes` is ever dirty, and a running app's own writes are not
 * stalled behind a write-back storm.
 */
export class WriteBack {
  private unflushed = 0;
  private flushing?: Promise<void>;

  constructor(
    private readonly path: string,
    private readonly everyBytes = 4 * 1024 * 1024,
  ) {}

  /** Counts `bytes` just written; starts a background sync, or waits for the running one, when due. */
  async wrote(bytes: number): Promise<void> {
    this.unflushed += bytes;
    while (this.unflushed >= this.everyBytes) {
      if (this.flushing) {
        await this.flushing;
        continue;
      }
      this.unflushed = 0;
      const flushing = flushFileSystem(this.path).finally(() => {
        if (this.flushing === flushing) this.flushing = undefined;
      });
      flushing.catch(() => undefined);
      this.flushing = flushing;
    }
  }

  /** Waits for the background sync, if one runs; a write-back error it met is thrown here. */
  async settle(): Promise<void> {
    await this.flushing;
  }
}
