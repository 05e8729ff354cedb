import { access, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PrtiqlError } from '../../shared/errors.js';
import { assembleRootfs, releaseRootfs, type RootfsMode } from '../../filesystem/rootfs.js';
import type { RuntimeSpec } from '../../filesystem/runtime-spec.js';
import { isLive, runcStatus } from './runc.js';
import { STORE_LAYOUT, type DeviceStore, type StoredImage } from '../device-store/device-store.js';
import { runTool } from '../../filesystem/tool.js';

/**
 * `<store>/containers/<name>/`: the runc bundle (config.json, rootfs/ and its overlay parts)
 * plus `image` (read by garbage collection), runc's own log of a foreground run (`runc.log`) and two markers: `detached` (nobody waits for
 * the container: `stop` cleans up) and `stopping` (a stop was asked for: not a failed start).
 */
export const CONTAINER_MARKERS = { detached: 'detached', stopping: 'stopping' } as const;

export function containerBundle(storeRoot: string, name: string): string {
  return join(storeRoot, STORE_LAYOUT.containers, name);
}

export async function hasMarker(bundle: string, marker: keyof typeof CONTAINER_MARKERS): Promise<boolean> {
  return access(join(bundle, CONTAINER_MARKERS[marker])).then(
    () => true,
    () => false,
  );
}

export async function setMarker(bundle: string, marker: keyof typeof CONTAINER_MARKERS): Promise<void> {
  await writeFile(join(bundle, CONTAINER_MARKERS[marker]), '', { mode: 0o600 });
}

/**
 * A bundle left by a crash or power loss is removed; a container of that name that runc
 * still runs belongs to another applier and is left alone.
 */
export async function clearStaleContainer(runc: string, name: string, bundle: string): Promise<void> {
  const status = await runcStatus(runc, name);
  if (isLive(status)) throw new PrtiqlError('E_BUSY', `container ${name} is already ${status}`);
  await removeContainer(runc, name, bundle);
}

/** Deletes runc's state of the container, unmounts its rootfs and deletes the bundle. */
export async function removeContainer(runc: string, name: string, bundle: string): Promise<void> {
  await runTool(runc, ['delete', '--force', name]);
  await releaseRootfs(bundle);
}

/**
 * Creates the bundle: `image` first (from then on garbage collection keeps the image and its
 * layers), a check that every layer is there, the root filesystem, then config.json.
 * Returns how the rootfs was made.
 */
export async function createBundle(
  store: DeviceStore,
  name: string,
  image: StoredImage,
  spec: RuntimeSpec,
  rootfs: RootfsMode,
  warn: (reason: string) => void,
): Promise<'overlay' | 'copy'> {
  const bundle = containerBundle(store.root, name);
  await mkdir(store.path(STORE_LAYOUT.containers), { recursive: true, mode: 0o700 });
  await mkdir(bundle, { mode: 0o700 });
  await writeFile(store.containerImagePath(name), `${image.manifestDigest}\n`, { mode: 0o600 });
  for (const layer of image.layers) {
    const present = await stat(layer.path).then((info) => info.isDirectory(), () => false);
    if (!present) throw new PrtiqlError('E_NOT_FOUND', `layer ${layer.diffID} of the current image is missing from ${store.root}`);
  }
  const made = await assembleRootfs(
    image.layers.map((layer) => layer.path),
    bundle,
    rootfs,
    warn,
  );
  await writeFile(join(bundle, 'config.json'), `${JSON.stringify(spec, null, 2)}\n`, { mode: 0o600 });
  return made;
}
