import { once } from 'node:events';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Writable } from 'node:stream';
import { PrtiqlError } from '../../shared/errors.js';
import { containerLogPaths } from './container-log.js';
import { isLive, runcStatus } from './runc.js';
import { DeviceStore } from '../device-store/device-store.js';
import { requireExecutable } from '../../filesystem/tool.js';

export interface LogsOptions {
  store: string;
  name: string;
  /** Keep printing what the container writes until it has stopped. */
  follow: boolean;
}

const FOLLOW_POLL_MS = 200;
const PIECE_BYTES = 64 * 1024;

/** Prints the rotated part, then the current log; with `follow`, new output until the container has stopped. */
export async function printContainerLog(options: LogsOptions, out: Writable): Promise<number> {
  const store = await DeviceStore.open(options.store);
  const paths = containerLogPaths(store.root, options.name);
  const runc = options.follow ? await requireExecutable('runc') : undefined;
  const rotated = await openIfExists(paths.rotated);
  let current = await openIfExists(paths.current);
  if (!rotated && !current) {
    throw new PrtiqlError('E_NOT_FOUND', `container ${options.name} has no log in ${store.root} (only run --detach writes one)`);
  }
  if (rotated) {
    await copyFrom(rotated, 0, out);
    await rotated.close();
  }
  let position = current ? await copyFrom(current, 0, out) : 0;
  try {
    let quietAfterStop = false;
    while (runc) {
      await sleep(FOLLOW_POLL_MS);
      const before = position;
      if (current) position = await copyFrom(current, position, out);
      const info = await stat(paths.current).catch(() => undefined);
      if (info && (!current || info.ino !== (await current.stat()).ino)) {
        // rotated: finish the old file, then the new one starts at 0
        if (current) {
          await copyFrom(current, position, out);
          await current.close();
        }
        current = await open(paths.current, 'r');
        position = await copyFrom(current, 0, out);
        continue;
      }
      if (isLive(await runcStatus(runc, options.name))) continue;
      if (quietAfterStop && position === before) break;
      quietAfterStop = true;
    }
  } finally {
    await current?.close();
  }
  return 0;
}

async function openIfExists(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Copies from `position` to the end of the file; returns the new position. */
async function copyFrom(handle: FileHandle, position: number, out: Writable): Promise<number> {
  const buffer = Buffer.alloc(PIECE_BYTES);
  for (;;) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) return position;
    position += bytesRead;
    if (!out.write(Buffer.from(buffer.subarray(0, bytesRead)))) await once(out, 'drain');
  }
}
