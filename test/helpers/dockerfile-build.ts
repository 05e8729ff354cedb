import { cp, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Platform } from '../../shared/oci.js';
import { buildImage } from '../../cli/src/lib/build/build-image.js';
import { createBusyboxRootfs } from '../../fixtures/busybox-rootfs.js';
import { REPO_ROOT, runCli, type ProcessResult } from './run.js';

/** Builds the busybox fixture rootfs as a one-layer image in an OCI layout under `dir`; returns its oci: reference. */
export async function busyboxImage(dir: string, platform?: Platform): Promise<string> {
  const rootfs = join(dir, 'busybox-rootfs');
  await mkdir(rootfs);
  await createBusyboxRootfs(rootfs);
  const reference = `oci:${join(dir, 'busybox')}:1`;
  await buildImage({ layers: [{ directory: rootfs }], ...(platform && { platform }) }, reference);
  return reference;
}

/** Copies fixtures/dockerfiles/<name> to `dir` (so a test may add files to the context) and returns the copy. */
export async function dockerfileFixture(name: string, dir: string): Promise<string> {
  const context = join(dir, name.replaceAll('/', '-'));
  await cp(join(REPO_ROOT, 'fixtures', 'dockerfiles', name), context, { recursive: true });
  return context;
}

/** `prtiql build -f <context>/Dockerfile <context> ...` with the given extra arguments. */
export function buildContext(context: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<ProcessResult> {
  return runCli(['build', '-f', join(context, 'Dockerfile'), context, ...args], env ? { env } : {});
}
