import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { ContainerConfig } from '../../../shared/oci.js';
import type { RootfsMode } from '../../../filesystem/rootfs.js';
import { DeviceStore } from '../../../applier/device-store/device-store.js';
import { createBusyboxRootfs } from '../../../fixtures/busybox-rootfs.js';
import { APP_LAYER, containerStore } from '../../helpers/container-store.js';
import { installImage, snapshotTree, type LayerContent } from '../../helpers/device-store.js';
import { RUNC_NEEDS_ROOT, skipUnlessAvailable } from '../../helpers/required-features.js';
import { runnableLayers } from '../../helpers/runnable-release.js';
import { startApplier } from '../../helpers/running-applier.js';
import { publishTestRelease } from '../../helpers/signed-artifact-store.js';
import { updatingDevice } from '../../helpers/updating-device.js';
import { APPLIER_EXIT_CODES } from '../../../shared/errors.js';

const skip = skipUnlessAvailable(RUNC_NEEDS_ROOT);
/** A service that says it is up, then runs until SIGTERM. */
const service = (name: string): ContainerConfig => ({ Cmd: ['sh', '-c', `trap "exit 0" TERM; echo ${name} up; while true; do sleep 0.1; done`] });

/** Runs the store's current release until one of the versions says it is up, then stops it. */
async function runUntilUp(root: string, name: string, mode: RootfsMode) {
  const applier = startApplier(['run', '--store', root, '--name', name, '--health-seconds', '1', '--rootfs', mode]);
  await Promise.race([applier.printed('v1 up'), applier.printed('v2 up')]);
  process.kill(applier.pid, 'SIGTERM');
  return applier.done;
}

t.test('update refuses a signed layer with an entry below a whiteout-named directory; the device runs on', { skip }, async (t) => {
  const { artifacts, device, name, signer, update } = await updatingDevice(t, 'whiteout');
  const layers = await runnableLayers();
  const publish = async (version: number, extra: typeof layers) =>
    publishTestRelease({ storeDir: artifacts, channel: 'stable', version, layers: [...layers, ...extra], signers: [signer], config: service(`v${version}`) });

  const v1 = await publish(1, []);
  t.equal((await update()).code, 0);
  // the whiteout-named directory is only implied by the path below it
  const belowWhiteoutName = [
    { path: 'etc', type: 'directory' as const, mode: 0o755 },
    { path: 'etc/.wh.hosts/inside', type: 'file' as const, mode: 0o644, content: 'x' },
  ];
  await publish(2, [belowWhiteoutName]);
  const refused = await update();
  t.equal(refused.code, APPLIER_EXIT_CODES.E_UNSAFE_ENTRY, refused.stderr);
  t.match(refused.stderr, /E_UNSAFE_ENTRY: .*etc\/\.wh\.hosts\/inside.*only the last name of a path may be a whiteout/);
  t.equal(await (await DeviceStore.open(device)).pointer('current'), v1.manifestDigest, 'version 1 stays installed');

  const result = await runUntilUp(device, name, 'auto');
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stdout, 'v1 up\n');
});

/**
 * Layers a store written before extraction refused them may hold, each with the root
 * filesystem mode it would hurt most: overlay would hide /etc/hosts and show the rest, the
 * copy would delete the whole tree above /app.
 */
const UNSAFE_LAYERS: { what: string; mode: RootfsMode; layer: LayerContent }[] = [
  {
    what: 'entries below a whiteout-named directory',
    mode: 'overlay',
    layer: async (dir) => {
      await mkdir(join(dir, 'etc', '.wh.hosts'), { recursive: true });
      await writeFile(join(dir, 'etc', '.wh.hosts', 'inside'), 'x');
    },
  },
  {
    what: 'a whiteout of ".."',
    mode: 'copy',
    layer: async (dir) => {
      await mkdir(join(dir, 'app'));
      await writeFile(join(dir, 'app', '.wh...'), '');
    },
  },
];

for (const { what, mode, layer: unsafeLayer } of UNSAFE_LAYERS) {
  t.test(`${mode} root filesystem: a new release with ${what} fails its first start and rolls back, once`, { skip }, async (t) => {
    const store = await containerStore(t, [service('v1')]);
    await installImage(store.root, [createBusyboxRootfs, APP_LAYER, unsafeLayer], service('v2'));
    const opened = await DeviceStore.open(store.root);
    const v2 = (await opened.pointer('current'))!;
    await opened.writeState({ channel: 'stable', installed: { version: 2, manifest: v2 }, previous: { version: 1, manifest: store.manifests[0] }, highestSeen: 2 });
    const layers = await snapshotTree(join(store.root, 'layers'));

    const first = await runUntilUp(store.root, store.name, mode);
    t.equal(first.code, 0, first.stderr);
    t.equal(first.stdout, 'v1 up\n', 'version 2 never ran; version 1 did');
    t.match(first.stderr, /"event":"health.failed".*"version":2,"reason":"layer entry .*: (not a valid whiteout name|a whiteout must be an empty regular file); no root filesystem is assembled from it"/);
    t.equal(await (await DeviceStore.open(store.root)).pointer('current'), store.manifests[0], 'the previous release is current again');
    t.same(await snapshotTree(join(store.root, 'layers')), layers, 'no layer was changed');

    const second = await runUntilUp(store.root, store.name, mode);
    t.equal(second.stdout, 'v1 up\n');
    t.notMatch(second.stderr, /health\.failed|rolled-back/, 'the next start goes straight to version 1: no loop');
  });
}
