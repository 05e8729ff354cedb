import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { ContainerConfig } from '../../shared/oci.js';
import { Store } from '../../applier/store.js';
import { createBusyboxRootfs } from '../../fixtures/busybox-rootfs.js';
import { APP_LAYER, containerStore } from '../helpers/container-store.js';
import { installImage } from '../helpers/device-store.js';
import { startApplier } from '../helpers/running-applier.js';

const skip = process.getuid?.() !== 0 && 'runs containers with runc, which needs root';
const service = (name: string): ContainerConfig => ({ Cmd: ['sh', '-c', `trap "exit 0" TERM; echo ${name} up; while true; do sleep 0.1; done`] });

t.test('a first start that fails for any reason ends in the rollback path, not in a restart loop', { skip }, async (t) => {
  const store = await containerStore(t, [service('v1')]);
  // entries under a directory named like a whiteout, as a store written before such layers were refused may hold
  const underWhiteoutDirectory = async (dir: string) => {
    await mkdir(join(dir, 'etc', '.wh.hosts'), { recursive: true });
    await writeFile(join(dir, 'etc', '.wh.hosts', 'inside'), 'x');
  };
  await installImage(store.root, [createBusyboxRootfs, APP_LAYER, underWhiteoutDirectory], service('v2'));
  const opened = await Store.open(store.root);
  const v2 = (await opened.pointer('current'))!;
  await opened.writeState({ channel: 'stable', installed: { version: 2, manifest: v2 }, previous: { version: 1, manifest: store.manifests[0] }, highestSeen: 2 });

  const applier = startApplier(['run', '--store', store.root, '--name', store.name, '--health-seconds', '1']);
  await applier.printed('v1 up');
  process.kill(applier.pid, 'SIGTERM');
  const result = await applier.done;
  t.equal(result.code, 0, result.stderr);
  t.match(result.stderr, /"event":"health.failed"/);
  t.equal(await (await Store.open(store.root)).pointer('current'), store.manifests[0], 'the previous release is current again');
});
