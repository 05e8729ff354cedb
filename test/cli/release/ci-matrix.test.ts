import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { generateReleaseKey } from '../../../cli/src/lib/keys.js';
import { buildAppImage } from '../../helpers/app-image.js';
import { startRegistry } from '../../helpers/registry.js';
import { runCli, type ProcessResult } from '../../helpers/run.js';

function json(t: Test, result: ProcessResult, what: string): any {
  t.equal(result.code, 0, `${what}: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

t.test('delta jobs for each (base, target) pair run at once into one registry store; release assembles them without recomputing', async (t) => {
  const registry = await startRegistry(t);
  const dir = t.testdir();
  const keys = await generateReleaseKey(join(dir, 'keys'));
  const ci = `docker://${registry.host}/ci/app`;
  const store = `docker://${registry.host}/app`;
  const release = (version: number, ...extra: string[]) =>
    runCli(['release', '--image', `${ci}:${version}`, '--channel', 'stable', '--release-version', String(version), '--key', keys.privateKey, '--store', store, '--json', ...extra]);

  for (const version of [1, 2, 3]) await buildAppImage(t, `${ci}:${version}`, version);
  json(t, await release(1), 'release 1');
  json(t, await release(2), 'release 2');

  const jobs = await Promise.all(
    [1, 2].map((base) =>
      runCli(['delta', '--from', `${ci}:${base}`, '--to', `${ci}:3`, '--store', store, '--json', '--metadata-file', join(dir, `delta-${base}.json`)]),
    ),
  );
  const computed = jobs.map((job, i) => json(t, job, `delta job ${i + 1}`));
  for (const [i, report] of computed.entries()) {
    t.equal(report.reused, false, `job ${i + 1} computed its pair`);
    t.same(JSON.parse(await readFile(join(dir, `delta-${i + 1}.json`), 'utf8')), report, '--metadata-file holds the report');
  }

  const assembled = await release(3, '--base-releases', '2');
  const report = json(t, assembled, 'release 3');
  t.notMatch(assembled.stderr, /Delta for layer/, 'no delta was computed again');
  const expected = computed.flatMap((job) => job.deltas.map((delta: { digest: string }) => delta.digest)).sort();
  t.same(report.images[0].deltas.map((delta: { digest: string }) => delta.digest).sort(), expected, 'the release carries exactly the deltas the jobs produced');
  t.same([...new Set(report.images[0].deltas.map((delta: { baseDigest: string }) => delta.baseDigest))].sort(), computed.map((job) => job.baseDigest).sort());
  t.same(report.bases.map((base: { version: number }) => base.version), [2, 1], 'devices on versions 2 and 1: what each downloads');
});
