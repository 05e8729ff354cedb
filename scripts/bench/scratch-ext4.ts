import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface ScratchFileSystem {
  dir: string;
  /** How the directory is backed, for the report. */
  description: string;
  release(): void;
}

const run = (command: string, args: string[]) => execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/**
 * A fresh ext4 file system for the device stores: a sparse image on a loop device with direct
 * I/O, so that `sync -f` and the applier's syncfs flush only the bench's own writes, to the
 * disk, not into the host's page cache. Needs root; otherwise a plain directory is used and
 * the report says so.
 */
export function scratchExt4(workDir: string, sizeBytes: number): ScratchFileSystem {
  const image = join(workDir, 'store-ext4.img');
  const dir = join(workDir, 'store-ext4');
  mkdirSync(dir, { recursive: true });
  let device: string | undefined;
  try {
    run('truncate', ['-s', String(sizeBytes), image]);
    run('mkfs.ext4', ['-q', '-F', image]);
    device = run('losetup', ['--find', '--show', '--direct-io=on', image]);
    run('mount', [device, dir]);
  } catch (error) {
    if (device) run('losetup', ['--detach', device]);
    rmSync(image, { force: true });
    const reason = (error as Error).message.split('\n')[0];
    return { dir, description: `a directory on the bench data's file system (no loop-mounted ext4: ${reason})`, release: () => rmSync(dir, { recursive: true, force: true }) };
  }
  const loop = device;
  return {
    dir,
    description: `a fresh ext4 file system on a ${(sizeBytes / 2 ** 30).toFixed(0)} GiB loop device (direct I/O to the backing image on the host disk)`,
    release() {
      run('umount', [dir]);
      run('losetup', ['--detach', loop]);
      rmSync(image, { force: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
