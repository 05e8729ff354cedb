import { spawn, type ChildProcess } from 'node:child_process';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAll } from '../../filesystem/durable.js';
import { STORE_LAYOUT } from '../device-store/device-store.js';

/** Each of the two files holds at most this much: a detached container's log stays bounded. */
export const CONTAINER_LOG_MAX_BYTES = 1024 * 1024;

/**
 * A detached container's output: `containers/<name>.log`, and `<name>.log.1` for the part
 * before the last rotation. Beside the bundle, not in it, so it outlives the container.
 */
export function containerLogPaths(storeRoot: string, name: string): { current: string; rotated: string } {
  const current = join(storeRoot, STORE_LAYOUT.containers, `${name}.log`);
  return { current, rotated: `${current}.1` };
}

/**
 * Appends everything from `input` to `file`; when the next piece would take it past
 * `maxBytes`, the file becomes `<file>.1` (replacing the older one) and a new file starts.
 */
export async function writeRotatingLog(input: AsyncIterable<Buffer>, file: string, maxBytes: number): Promise<void> {
  let handle: FileHandle = await open(file, 'a', 0o600);
  let size = (await handle.stat()).size;
  try {
    for await (const chunk of input) {
      if (size > 0 && size + chunk.length > maxBytes) {
        await handle.close();
        await rename(file, `${file}.1`);
        handle = await open(file, 'a', 0o600);
        size = 0;
      }
      await writeAll(handle, chunk);
      size += chunk.length;
    }
  } finally {
    await handle.close();
  }
}

/**
 * Starts the log writer (this applier, as `container-log`) in its own session, so it outlives
 * `run --detach`. Its stdin becomes the container's stdout and stderr; it exits at end of
 * input, when the container and everything it started have exited.
 */
export function startLogWriter(file: string): ChildProcess & { stdin: NonNullable<ChildProcess['stdin']> } {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], 'container-log', '--file', file], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  child.unref();
  return child as ChildProcess & { stdin: NonNullable<ChildProcess['stdin']> };
}
