import { chmod, chown, copyFile, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { digestHex, sha256Digest } from '../../../shared/digest.js';
import { runApplier } from '../../helpers/applier-bundle.js';
import { runTool } from '../../helpers/run.js';
import { newSigner, publishTestRelease, trustRootJson, type FixtureEntry, type PublishedRelease } from '../../helpers/signed-artifact-store.js';
import { checkStore, knownReleases, type StoreMoment } from '../../helpers/store-invariant.js';

/**
 * The crash tests trust this check to see any damage: each way a store can be wrong must be
 * reported, in a store looked at after a crash (`interrupted`) as well as after a finished run
 * (`settled`), except for the states a crash legitimately leaves, which only a settled store
 * must not hold.
 */

const layers = (version: number): FixtureEntry[][] => [
  [
    { path: 'etc', type: 'directory', mode: 0o755 },
    { path: 'etc/os', type: 'file', mode: 0o644, content: 'base\n' },
  ],
  [
    { path: 'app', type: 'directory', mode: 0o750 },
    { path: 'app/version', type: 'file', mode: 0o644, content: `${version}\n` },
  ],
];

const dir = t.testdir();
const artifacts = join(dir, 'artifacts');
const pristine = join(dir, 'pristine');
const signer = newSigner();
const trustPath = join(dir, 'root.json');
await writeFile(trustPath, trustRootJson([signer]));
const releases: PublishedRelease[] = [];
let afterVersion2 = '';
for (const version of [1, 2, 3]) {
  releases.push(await publishTestRelease({ storeDir: artifacts, channel: 'stable', version, layers: layers(version), signers: [signer] }));
  const installed = await runApplier(['update', '--source', pathToFileURL(artifacts).href, '--channel', 'stable', '--store', pristine, '--trust', trustPath]);
  if (installed.code !== 0) throw new Error(installed.stderr);
  if (version === 2) {
    afterVersion2 = join(dir, 'after-version-2');
    await runTool('cp', ['-a', pristine, afterVersion2]);
  }
}
const known = await knownReleases(releases, await readFile(trustPath));
const [v1, v2, v3] = releases.map((release) => digestHex(release.manifestDigest));
const appLayerOf = (release: PublishedRelease) => digestHex(sha256Digest(release.layerTars[1]));
const BOTH: StoreMoment[] = ['settled', 'interrupted'];
const SETTLED: StoreMoment[] = ['settled'];

interface Corruption {
  name: string;
  corrupt(store: string): Promise<void>;
  /** What the check must say. */
  problem: RegExp;
  /** When it is damage; in the other moment it is a state a crash may leave. */
  reportedWhen: StoreMoment[];
}

const CORRUPTIONS: Corruption[] = [
  { name: 'current deleted', corrupt: (s) => rm(join(s, 'current')), problem: /current is missing/, reportedWhen: BOTH },
  { name: 'previous deleted', corrupt: (s) => rm(join(s, 'previous')), problem: /pointers and state.json disagree.*previous none/, reportedWhen: BOTH },
  {
    name: 'previous equal to current',
    corrupt: async (s) => {
      await rm(join(s, 'previous'));
      await symlink(`images/${v3}`, join(s, 'previous'));
    },
    problem: /pointers and state.json disagree \(current 3, previous 3/,
    reportedWhen: SETTLED,
  },
  {
    name: 'previous equal to current, and the rollback target deleted',
    corrupt: async (s) => {
      await rm(join(s, 'previous'));
      await symlink(`images/${v3}`, join(s, 'previous'));
      await rm(join(s, 'images', v2), { recursive: true });
    },
    problem: /the rollback target \(version 2\): manifest.json is missing|disagree \(current 3, previous 3/,
    reportedWhen: BOTH,
  },
  {
    name: 'previous names an image that was collected',
    corrupt: async (s) => {
      await rm(join(s, 'previous'));
      await symlink(`images/${v1}`, join(s, 'previous'));
    },
    problem: /previous \(version 1\): manifest.json is missing/,
    reportedWhen: BOTH,
  },
  { name: 'previous is a directory', corrupt: async (s) => { await rm(join(s, 'previous')); await mkdir(join(s, 'previous')); }, problem: /previous -> not a symlink/, reportedWhen: BOTH },
  { name: 'state.json garbage', corrupt: (s) => writeFile(join(s, 'state.json'), '{"chan'), problem: /state.json cannot be read/, reportedWhen: BOTH },
  { name: 'state.json deleted', corrupt: (s) => rm(join(s, 'state.json')), problem: /state.json is missing/, reportedWhen: BOTH },
  {
    name: 'state.json names a release that is not installed',
    corrupt: async (s) => {
      const state = JSON.parse(await readFile(join(s, 'state.json'), 'utf8'));
      await writeFile(join(s, 'state.json'), JSON.stringify({ ...state, installed: { version: 1, manifest: releases[0].manifestDigest }, previous: null }));
    },
    problem: /pointers and state.json disagree/,
    reportedWhen: BOTH,
  },
  {
    name: 'state.json one release behind current (before its write)',
    corrupt: async (s) => {
      const state = JSON.parse(await readFile(join(s, 'state.json'), 'utf8'));
      await writeFile(join(s, 'state.json'), JSON.stringify({ ...state, installed: state.previous, previous: null }), { mode: 0o600 });
    },
    problem: /pointers and state.json disagree \(current 3, previous 2, state.json installed 2 and previous none\)$/,
    reportedWhen: SETTLED,
  },
  {
    name: 'state.json with a version the manifest does not have',
    corrupt: async (s) => {
      const state = JSON.parse(await readFile(join(s, 'state.json'), 'utf8'));
      await writeFile(join(s, 'state.json'), JSON.stringify({ ...state, installed: { ...state.installed, version: 7 } }));
    },
    problem: /state.json: installed .* is no known release/,
    reportedWhen: BOTH,
  },
  { name: 'junk in staging', corrupt: async (s) => {
      await mkdir(join(s, 'staging', 'half-extracted'), { recursive: true });
    }, problem: /staging\/ is left behind/, reportedWhen: SETTLED },
  { name: 'a pointer temporary left behind', corrupt: (s) => symlink(`images/${v3}`, join(s, '.current.tmp-4242')), problem: /\.current\.tmp-4242 is a temporary left behind/, reportedWhen: SETTLED },
  { name: 'trust/ deleted', corrupt: (s) => rm(join(s, 'trust'), { recursive: true }), problem: /trust\/root.json is missing/, reportedWhen: BOTH },
  { name: 'trust root replaced', corrupt: (s) => writeFile(join(s, 'trust', 'root.json'), trustRootJson([newSigner()])), problem: /trust\/root.json is not the pinned trust root/, reportedWhen: BOTH },
  { name: 'a layer directory chmod 777', corrupt: (s) => chmod(join(s, 'layers', appLayerOf(releases[2])), 0o777), problem: /: \.: mode is 0777, expected 0750|: \.: mode is 0777, expected 0755/, reportedWhen: BOTH },
  { name: 'a layer file chmod 666', corrupt: (s) => chmod(join(s, 'layers', appLayerOf(releases[2]), 'app', 'version'), 0o666), problem: /app\/version: mode is 0666, expected 0644/, reportedWhen: BOTH },
  { name: 'a layer file given away', corrupt: (s) => chown(join(s, 'layers', appLayerOf(releases[2]), 'app', 'version'), 1234, 0), problem: /app\/version: uid is 1234, expected 0/, reportedWhen: BOTH },
  { name: 'a layer file changed', corrupt: (s) => writeFile(join(s, 'layers', appLayerOf(releases[2]), 'app', 'version'), '9\n'), problem: /app\/version: sha256 is/, reportedWhen: BOTH },
  { name: 'a file added to a layer', corrupt: (s) => writeFile(join(s, 'layers', appLayerOf(releases[2]), 'app', 'extra'), ''), problem: /app\/extra is not in the layer/, reportedWhen: BOTH },
  { name: 'a layer .meta deleted', corrupt: (s) => rm(join(s, 'layers', `${appLayerOf(releases[2])}.meta`)), problem: /its metadata and files do not rebuild the tar: ENOENT.*\.meta/, reportedWhen: BOTH },
  { name: 'a layer .meta chmod 644', corrupt: (s) => chmod(join(s, 'layers', `${appLayerOf(releases[2])}.meta`), 0o644), problem: /\.meta has mode 0644, expected a file of mode 0600/, reportedWhen: BOTH },
  {
    name: 'an orphan .meta',
    corrupt: (s) => copyFile(join(s, 'layers', `${appLayerOf(releases[2])}.meta`), join(s, 'layers', `${appLayerOf(releases[0])}.meta`)),
    problem: /\.meta has no layer directory/,
    reportedWhen: SETTLED,
  },
  { name: 'a layer directory nothing knows', corrupt: (s) => mkdir(join(s, 'layers', digestHex(sha256Digest('stray'))), { mode: 0o755 }), problem: /is no known layer/, reportedWhen: BOTH },
  {
    name: 'an image and its layer nothing uses any more',
    corrupt: async (s) => {
      await runTool('cp', ['-a', join(afterVersion2, 'images', v1), join(s, 'images')]);
      await runTool('cp', ['-a', join(afterVersion2, 'layers', appLayerOf(releases[0])), join(afterVersion2, 'layers', `${appLayerOf(releases[0])}.meta`), join(s, 'layers')]);
    },
    problem: /images\/[0-9a-f]{12} is not named by current, previous or a container/,
    reportedWhen: SETTLED,
  },
  { name: 'an image directory nothing knows', corrupt: (s) => mkdir(join(s, 'images', digestHex(sha256Digest('stray'))), { mode: 0o700 }), problem: /is no known release image/, reportedWhen: BOTH },
  { name: 'an image without its complete marker', corrupt: (s) => rm(join(s, 'images', v2, 'complete')), problem: /previous \(version 2\): the image has no complete marker/, reportedWhen: BOTH },
  { name: 'an image file chmod 644', corrupt: (s) => chmod(join(s, 'images', v3, 'config.json'), 0o644), problem: /config.json has mode 0644, expected 0600/, reportedWhen: BOTH },
  { name: 'the store opened to everyone', corrupt: (s) => chmod(s, 0o755), problem: /^\. has mode 0755, expected 0700$/, reportedWhen: BOTH },
  { name: 'state.json readable by everyone', corrupt: (s) => chmod(join(s, 'state.json'), 0o644), problem: /state.json has mode 0644, expected 0600/, reportedWhen: BOTH },
  { name: 'layers/ given away', corrupt: (s) => chown(join(s, 'layers'), 1234, 0), problem: /layers is owned by uid 1234, expected 0/, reportedWhen: BOTH },
];

t.test('the store a run leaves passes', async (t) => {
  for (const moment of BOTH) t.same(await checkStore(pristine, known, moment), { current: 3, previous: 2, problems: [] }, moment);
});

for (const corruption of CORRUPTIONS) {
  t.test(corruption.name, async (t) => {
    const store = join(t.testdir(), 'store');
    await runTool('cp', ['-a', pristine, store]);
    await corruption.corrupt(store);
    for (const moment of BOTH) {
      const { problems } = await checkStore(store, known, moment);
      if (corruption.reportedWhen.includes(moment)) {
        t.ok(problems.some((problem) => corruption.problem.test(problem)), `reported in a ${moment} store: ${problems.join('; ')}`);
      } else {
        t.same(problems, [], `a state a crash may leave: accepted in an ${moment} store`);
      }
    }
  });
}
