import { join } from 'node:path';
import t, { type Test } from 'tap';
import { releaseImageTag } from '../../../shared/registry-artifacts.js';
import { generateReleaseKey } from '../../../cli/src/lib/keys.js';
import { bareApplierCommand, ensureApplierBundle } from '../../helpers/applier-bundle.js';
import { buildAppImage } from '../../helpers/app-image.js';
import { REGISTRY_BINARY, startRegistry } from '../../helpers/registry.js';
import { runCli, runProcess, runTool, type ProcessResult } from '../../helpers/run.js';

function json(t: Test, result: ProcessResult, what: string): any {
  t.equal(result.code, 0, `${what}: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

t.test('garbage collection of untagged manifests keeps every release: a device still updates through the delta', async (t) => {
  const registry = await startRegistry(t);
  const dir = t.testdir();
  const keys = await generateReleaseKey(join(dir, 'keys'));
  const repo = `docker://${registry.host}/app-releases`;
  await ensureApplierBundle();
  // The images come from a local layout: the release repository is the only place that holds them.
  const v1 = await buildAppImage(t, `oci:${join(dir, 'images')}:1`, 1);
  const v2 = await buildAppImage(t, `oci:${join(dir, 'images')}:2`, 2);
  const release = (tag: string, version: number, ...extra: string[]) =>
    runCli(['release', '--image', `oci:${join(dir, 'images')}:${tag}`, '--channel', 'stable', '--version', String(version), '--key', keys.privateKey, '--to', repo, '--json', ...extra]);
  const update = (store: string) => runProcess(...bareApplierCommand(['update', '--source', repo, '--channel', 'stable', '--store', join(dir, store), '--trust', keys.trustRoot]));

  json(t, await release('1', 1), 'release 1');
  const first = await update('device');
  t.equal(first.code, 0, first.stderr);
  const second = json(t, await release('2', 2, '--base-releases', '1'), 'release 2');
  t.ok(second.deltas.length >= 1, 'release 2 carries deltas from release 1');

  await registry.stop();
  const collected = await runProcess(REGISTRY_BINARY, ['garbage-collect', '--delete-untagged', registry.config]);
  t.equal(collected.code, 0, collected.stderr);
  t.match(collected.stdout, /manifest eligible for deletion/, 'the collection deleted untagged manifests (older artifacts of moved tags)');
  await registry.start();

  const updated = await update('device');
  t.equal(updated.code, 0, updated.stderr);
  t.match(updated.stderr, /"event":"layer.installed"[^\n]*"via":"delta"/, 'the device moves to release 2 by delta after the collection');
  const fresh = await update('fresh-device');
  t.equal(fresh.code, 0, fresh.stderr);
  t.match(fresh.stdout, /updated to version 2/, 'a new device installs release 2 in full');
  const tags = await runTool('skopeo', ['list-tags', '--tls-verify=false', repo]);
  t.same(JSON.parse(tags).Tags.filter((tag: string) => tag.startsWith('_releases.')).sort(), [releaseImageTag('stable', 1), releaseImageTag('stable', 2)].sort(), 'each released image has its tag');
  for (const [version, digest] of [[1, v1], [2, v2]] as const) {
    const inspected = JSON.parse(await runTool('skopeo', ['inspect', '--tls-verify=false', `${repo}:${releaseImageTag('stable', version)}`]));
    t.equal(inspected.Digest, digest, `the tag of version ${version} names its image`);
  }

  const older = json(t, await release('2', 3, '--base-releases', '2'), 'release 3, with deltas from the collected releases');
  t.equal(older.version, 3);
});
