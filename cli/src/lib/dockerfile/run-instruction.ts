import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { runtimeSpec, type NetworkMode } from '../../../../filesystem/runtime-spec.js';
import { requireExecutable, runTool, runToolOrFail } from '../../../../filesystem/tool.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { MAX_ACCOUNTS_FILE_BYTES } from '../../../../shared/limits.js';
import type { Platform } from '../../../../shared/oci.js';
import { emulationHint, executionOf } from './emulation.js';
import { upperToLayerDirectory } from './overlay-diff.js';
import { readRootFile } from './root-path.js';

/** Build containers get a fixed hostname, so that it cannot leak into layers. */
const BUILD_HOSTNAME = 'prtiql-build';
const OVERLAY_PARAMETERS = '/sys/module/overlay/parameters';

export interface RunCommand {
  args: string[];
  /** NAME=value, the stage's ENV and its build arguments. */
  env: string[];
  user: string;
  workdir: string;
  network: NetworkMode;
  platform: Platform;
}

/** The result of a RUN: its changes as an OCI layer directory, removed by dispose(). */
export interface RunChanges {
  layerDirectory: string;
  dispose(): Promise<void>;
}

/** Checks that RUN can work here and returns the runc to use; E_RUNTIME saying what is missing otherwise. */
export async function checkRunSupport(platform: Platform): Promise<string> {
  if (process.getuid?.() !== 0) throw new PrtiqlError('E_RUNTIME', 'RUN needs root: it mounts an overlay and starts runc');
  let runc: string;
  try {
    runc = await requireExecutable('runc');
  } catch (error) {
    throw new PrtiqlError('E_RUNTIME', `RUN needs runc: ${(error as Error).message}`, { cause: error });
  }
  const execution = await executionOf(platform);
  if ('missing' in execution) throw new PrtiqlError('E_RUNTIME', emulationHint(platform, execution.missing));
  return runc;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Without redirect_dir and metacopy, every change made through the mount is complete in the
 * upper dir: renamed directories and changed metadata are copied up whole.
 */
async function overlayOptions(lower: string, bundle: string): Promise<string> {
  const options = [`lowerdir=${lower}`, `upperdir=${join(bundle, 'upper')}`, `workdir=${join(bundle, 'work')}`];
  for (const feature of ['redirect_dir', 'metacopy']) {
    if (await exists(join(OVERLAY_PARAMETERS, feature))) options.push(`${feature}=off`);
  }
  if (options.some((option) => /[,:]/.test(option.slice(option.indexOf('=') + 1)))) {
    throw new PrtiqlError('E_RUNTIME', `build directory unusable in overlay options: ${bundle}`);
  }
  return options.join(',');
}

async function isMountPoint(path: string, parent: string): Promise<boolean> {
  try {
    return (await stat(path)).dev !== (await stat(parent)).dev;
  } catch {
    return false;
  }
}

function runContainer(runc: string, bundle: string, id: string, output: Writable | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(runc, ['run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout, child.stderr]) {
      if (output) stream.on('data', (chunk: Buffer) => output.write(chunk));
      else stream.resume();
    }
    child.once('error', reject);
    child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/**
 * Runs one command with runc on an overlay of the root filesystem `root` (which stays
 * untouched) and returns what it changed: the overlay's upper dir, turned into an OCI layer
 * directory. A non-zero exit is E_RUNTIME with the status.
 */
export async function runOnRoot(root: string, command: RunCommand, scratch: string, output: Writable | undefined): Promise<RunChanges> {
  const runc = await checkRunSupport(command.platform);
  const bundle = await mkdtemp(join(scratch, 'run-'));
  const dispose = () => rm(bundle, { recursive: true, force: true });
  const rootfs = join(bundle, 'rootfs');
  const id = `prtiql-build-${randomBytes(6).toString('hex')}`;
  try {
    for (const part of ['upper', 'work', 'rootfs']) await mkdir(join(bundle, part), { mode: 0o755 });
    const accounts = { passwd: await readRootFile(root, '/etc/passwd', MAX_ACCOUNTS_FILE_BYTES), group: await readRootFile(root, '/etc/group', MAX_ACCOUNTS_FILE_BYTES) };
    const spec = runtimeSpec(
      {
        architecture: command.platform.architecture,
        os: command.platform.os,
        config: { Entrypoint: command.args, Env: command.env, User: command.user, WorkingDir: command.workdir },
        rootfs: { type: 'layers', diff_ids: [] },
      },
      { containerId: BUILD_HOSTNAME, network: command.network, accounts },
    );
    spec.process.env = spec.process.env.filter((entry) => !entry.startsWith('HOSTNAME='));
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
    await runToolOrFail('mount', ['-t', 'overlay', 'overlay', '-o', await overlayOptions(root, bundle), rootfs]);
    let status: number;
    try {
      status = await runContainer(runc, bundle, id, output);
    } finally {
      await runTool(runc, ['delete', '--force', id]);
      while (await isMountPoint(rootfs, bundle)) await runToolOrFail('umount', [rootfs]);
    }
    if (status !== 0) throw new PrtiqlError('E_RUNTIME', `RUN ${JSON.stringify(command.args)} exited with status ${status}`);
    const stubs = spec.mounts.map((mount) => mount.destination.slice(1));
    await upperToLayerDirectory(join(bundle, 'upper'), root, stubs);
    return { layerDirectory: join(bundle, 'upper'), dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}
