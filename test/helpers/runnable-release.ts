import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCapped } from '../../shared/capped-read.js';
import type { ContainerConfig } from '../../shared/oci.js';
import { createBusyboxRootfs } from '../../fixtures/busybox-rootfs.js';
import { treeEntries } from './device-store.js';
import { REPO_ROOT } from './run.js';
import { publishTestRelease, type FixtureEntry, type PublishedRelease, type Signer } from './signed-artifact-store.js';

let layers: Promise<FixtureEntry[][]> | undefined;

/** busybox and the demo app (fixtures/busybox-app) as two fixture layers, read once per process. */
export function runnableLayers(): Promise<FixtureEntry[][]> {
  layers ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'prtiql-runnable-'));
    try {
      await cp(join(REPO_ROOT, 'fixtures/busybox-app'), join(dir, 'app'), { recursive: true });
      await mkdir(join(dir, 'base'));
      await createBusyboxRootfs(join(dir, 'base'));
      return [await fixtureEntries(join(dir, 'base')), await fixtureEntries(join(dir, 'app'))];
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return layers;
}

async function fixtureEntries(root: string): Promise<FixtureEntry[]> {
  const entries: FixtureEntry[] = [];
  for (const entry of await treeEntries(root)) {
    // treeEntries opens files as read streams
    const content = entry.open ? await readCapped(entry.open() as AsyncIterable<Uint8Array>, 64 * 1024 * 1024, entry.path) : undefined;
    entries.push({ path: entry.path, type: entry.type as FixtureEntry['type'], mode: entry.mode, uid: entry.uid, gid: entry.gid, content, linkname: entry.linkname });
  }
  return entries;
}

/**
 * Publishes a signed full-layer release of busybox + the demo app that runs `config`, into a
 * directory artifact store, so a device store can install it with `applier update` and run it.
 */
export async function publishRunnableRelease(storeDir: string, signer: Signer, version: number, config: ContainerConfig): Promise<PublishedRelease> {
  return publishTestRelease({ storeDir, channel: 'stable', version, layers: await runnableLayers(), signers: [signer], config });
}
