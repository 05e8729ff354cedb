import { cp, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { Digest } from '../../shared/digest.js';
import type { ContainerConfig } from '../../shared/oci.js';
import { releaseRootfs } from '../../filesystem/rootfs.js';
import { DeviceStore } from '../../applier/device-store/device-store.js';
import { createBusyboxRootfs } from '../../fixtures/busybox-rootfs.js';
import { ensureApplierBundle } from './applier-bundle.js';
import { installImage, type LayerContent } from './device-store.js';
import { REPO_ROOT, runProcess } from './run.js';
import { unlessMissing } from './unless-missing.js';

/** The demo app layer: /app/hello.sh. */
export const APP_LAYER: LayerContent = (dir) => cp(join(REPO_ROOT, 'fixtures/busybox-app'), dir, { recursive: true });

export interface ContainerStore {
  root: string;
  /** A container name unique to this test process. */
  name: string;
  /** Layer directories of the current image, bottom to top. */
  layerDirs: string[];
  /** Manifest digest of each installed image, in the order of the configs. */
  manifests: Digest[];
}

let containers = 0;

/**
 * A device store with one image per config (busybox + the demo app + `extra` layers), the
 * last one current, and state.json naming them releases 1..n (installed n, previous n-1).
 * At teardown the container of `name` (runc state, mounts) and the store are removed.
 */
export async function containerStore(t: Test, configs: ContainerConfig[], extra: LayerContent[] = []): Promise<ContainerStore> {
  await ensureApplierBundle();
  const root = await mkdtemp(join(tmpdir(), 'prtiql-run-'));
  const name = `prtiql-test-${process.pid}-${++containers}`;
  t.teardown(async () => {
    await runProcess('runc', ['delete', '--force', name]);
    await releaseRootfs(join(root, 'containers', name));
    await rm(root, { recursive: true, force: true });
  });
  const manifests: Digest[] = [];
  let layerDirs: string[] = [];
  for (const config of configs) {
    ({ layerDirs } = await installImage(root, [createBusyboxRootfs, APP_LAYER, ...extra], config));
    manifests.push((await (await DeviceStore.open(root)).pointer('current'))!);
  }
  const release = (index: number) => (index >= 0 ? { version: index + 1, manifest: manifests[index] } : null);
  await (await DeviceStore.open(root)).writeState({
    channel: 'stable',
    installed: release(manifests.length - 1),
    previous: release(manifests.length - 2),
    highestSeen: manifests.length,
  });
  return { root, name, layerDirs, manifests };
}

/** What a container can leave behind: bundles in containers/, mounts of the store, runc state (1: none). */
export async function leftovers(store: ContainerStore): Promise<{ bundles: string[]; mounted: boolean; runc: number }> {
  const bundles = ((await unlessMissing(readdir(join(store.root, 'containers')))) ?? []).filter((name) => !name.endsWith('.log'));
  const mounted = (await readFile('/proc/self/mountinfo', 'utf8')).includes(store.root);
  const state = await runProcess('runc', ['state', store.name]);
  return { bundles, mounted, runc: state.code };
}
