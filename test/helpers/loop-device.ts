import { access, readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';
import { runProcess, runTool } from './run.js';

/** Loop devices, mounts and writeback settings for the tests that need a real block device. */

const TOOLS = ['losetup', 'mount', 'umount', 'mkfs.ext4', 'e2fsck'];

/** Why a test that needs loop devices cannot run here, or undefined when it can. */
export async function loopDevicesUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'loop devices and mounts need root';
  for (const tool of TOOLS) {
    const found = await runProcess('sh', ['-c', `command -v ${tool}`]);
    if (found.code !== 0) return `${tool} is not installed (Debian: mount, e2fsprogs)`;
  }
  if (!(await access('/dev/loop-control').then(() => true, () => false))) return 'the kernel has no loop device support';
  return undefined;
}

/** Attaches `image` to a free loop device and returns the device path. */
export async function attachLoop(image: string): Promise<string> {
  return (await runTool('losetup', ['--find', '--show', image])).trim();
}

export async function detachLoop(device: string): Promise<void> {
  await runTool('losetup', ['--detach', device]);
}

export async function mount(source: string, target: string, options: string[] = [], type?: string): Promise<void> {
  await runTool('mount', [...(type ? ['-t', type] : []), ...(options.length > 0 ? ['-o', options.join(',')] : []), source, target]);
}

/** Runs `task` with a tmpfs of `size` (e.g. "8m") mounted at `target`, unmounted afterwards. */
export async function withTmpfs<T>(target: string, size: string, task: () => Promise<T>): Promise<T> {
  await mount('tmpfs', target, [`size=${size}`, 'mode=0700'], 'tmpfs');
  try {
    return await task();
  } finally {
    await unmount(target);
  }
}

export async function unmount(target: string): Promise<void> {
  await runTool('umount', [target]);
}

/** A new sparse ext4 image of `megabytes`, its inode tables and journal written up front (no lazy init writing later). */
export async function makeExt4Image(image: string, megabytes: number): Promise<void> {
  await runTool('truncate', ['-s', `${megabytes}M`, image]);
  await runTool('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', image]);
}

/**
 * Attaches `image`, mounts it at `target` for `task`, then unmounts and detaches whatever
 * `task` did. The device path is passed to `task`.
 */
export async function withLoopMount<T>(image: string, target: string, options: string[], task: (device: string) => Promise<T>): Promise<T> {
  const device = await attachLoop(image);
  try {
    await mount(device, target, options);
    try {
      return await task(device);
    } finally {
      await unmount(target);
    }
  } finally {
    await detachLoop(device);
  }
}

/** I/O counters of a block device (/sys/block/<dev>/stat) and its requests in flight. */
async function deviceActivity(device: string): Promise<string> {
  const name = basename(device);
  const [stat, inflight] = await Promise.all([readFile(`/sys/block/${name}/stat`, 'utf8'), readFile(`/sys/block/${name}/inflight`, 'utf8')]);
  return `${stat.trim()} | ${inflight.trim()}`;
}

function idle(activity: string): boolean {
  return /\|\s*0\s+0$/.test(activity);
}

/**
 * Runs `task` at a moment when the device has no request in flight and completes none while
 * `task` runs: a copy of its backing file made by `task` is then one instant of the disk.
 */
export async function whileDeviceQuiet<T>(device: string, task: () => Promise<T>): Promise<T> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const before = await deviceActivity(device);
    if (!idle(before)) {
      await sleep(20);
      continue;
    }
    const result = await task();
    if ((await deviceActivity(device)) === before) return result;
  }
  throw new Error(`${device} never stayed quiet`);
}

const WRITEBACK_SETTINGS = ['/proc/sys/vm/dirty_expire_centisecs', '/proc/sys/vm/dirty_writeback_centisecs'];

/**
 * Holds back the kernel's own writeback for the rest of the test (restored at teardown):
 * dirty page cache then reaches the disk only when a program syncs it, as data not yet written
 * back at a power cut would be lost.
 */
export async function holdBackWriteback(t: Test): Promise<void> {
  const saved = await Promise.all(WRITEBACK_SETTINGS.map((path) => readFile(path, 'utf8')));
  t.teardown(async () => {
    for (const [index, path] of WRITEBACK_SETTINGS.entries()) await writeFile(path, saved[index]);
  });
  // an hour before dirty data expires; no periodic flusher wake-ups
  await writeFile(WRITEBACK_SETTINGS[0], '360000');
  await writeFile(WRITEBACK_SETTINGS[1], '0');
}
