import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Test } from 'tap';
import { releaseRootfs } from '../../filesystem/rootfs.js';
import { ensureApplierBundle, runApplier } from './applier-bundle.js';
import { runProcess, type ProcessResult } from './run.js';
import { newSigner, trustRootJson, type Signer } from './signed-artifact-store.js';

export interface UpdatingDevice {
  /** Root of the directory artifact store releases are published to. */
  artifacts: string;
  /** The device store. */
  device: string;
  /** A container name unique to this test. */
  name: string;
  /** The key the device trusts. */
  signer: Signer;
  /** `applier update` of channel `stable` from the artifact store. */
  update(): Promise<ProcessResult>;
}

/**
 * An empty artifact store and a device that trusts its signer, in a temporary directory;
 * at teardown the container of `name` (runc state, mounts) and everything are removed.
 */
export async function updatingDevice(t: Test, label: string): Promise<UpdatingDevice> {
  await ensureApplierBundle();
  const work = await mkdtemp(join(tmpdir(), `prtiql-${label}-`));
  const name = `prtiql-test-${process.pid}-${label}`;
  t.teardown(async () => {
    await runProcess('runc', ['delete', '--force', name]);
    await releaseRootfs(join(work, 'device', 'containers', name));
    await rm(work, { recursive: true, force: true });
  });
  const signer = newSigner();
  const artifacts = join(work, 'artifacts');
  const device = join(work, 'device');
  const trust = join(work, 'root.json');
  await writeFile(trust, trustRootJson([signer]));
  const update = () => runApplier(['update', '--source', pathToFileURL(artifacts).href, '--channel', 'stable', '--store', device, '--trust', trust]);
  return { artifacts, device, name, signer, update };
}
