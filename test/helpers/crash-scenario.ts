import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runApplier } from './applier-bundle.js';
import { stepNumber, type CommitStep } from './commit-steps.js';
import { newSigner, publishTestRelease, trustRootJson, type FixtureEntry, type PublishedRelease } from './signed-artifact-store.js';
import { knownReleases, type KnownReleases } from './store-invariant.js';
import { deterministicBytes } from './deterministic-bytes.js';

/**
 * The update the crash tests interrupt: a store holding version 2 (version 1 as `previous`)
 * updates to version 3, which replaces two of three layers (about 7 MiB in 140 files, one
 * of them past the store's 4 MiB write-back pace) and collects version 1.
 */
export interface CrashScenario {
  sourceUrl: string;
  trustPath: string;
  /** A store with version 2 installed; copy it, never use it directly. */
  templateStore: string;
  known: KnownReleases;
  /** The version `previous` names before the update (the rollback target), and the versions before and after it. */
  before: number;
  from: number;
  to: number;
  /** `applier update` arguments for a store. */
  updateArgs(store: string): string[];
}

const BASE_LAYER: FixtureEntry[] = [
  { path: 'bin', type: 'directory', mode: 0o755 },
  { path: 'etc', type: 'directory', mode: 0o755 },
  { path: 'etc/motd', type: 'file', mode: 0o644, content: 'welcome\n' },
  { path: 'bin/sh', type: 'file', mode: 0o755, content: deterministicBytes('sh', 200_000) },
  { path: 'bin/sh-again', type: 'link', mode: 0o755, linkname: 'bin/sh' },
  { path: 'bin/bash', type: 'symlink', mode: 0o777, linkname: 'sh' },
  ...Array.from({ length: 30 }, (_, i): FixtureEntry => ({ path: `etc/conf-${i}`, type: 'file', mode: 0o644, content: deterministicBytes(`conf-${i}`, 97 * i) })),
];

function appLayer(version: number): FixtureEntry[] {
  return [
    { path: 'app', type: 'directory', mode: 0o750, uid: 1000, gid: 1000 },
    { path: 'app/lib', type: 'directory', mode: 0o755 },
    { path: 'app/run', type: 'file', mode: 0o4755, uid: 1000, gid: 50, content: `#!/bin/sh\necho ${version}\n` },
    { path: 'app/run-again', type: 'link', mode: 0o4755, linkname: 'app/run' },
    { path: 'app/current', type: 'symlink', mode: 0o777, linkname: `lib/module-${version}` },
    { path: 'app/blob.bin', type: 'file', mode: 0o600, content: deterministicBytes(`blob-${version}`, 6 * 1024 * 1024 + 123) },
    { path: 'etc/.wh.motd', type: 'file', mode: 0o644, content: '' },
    { path: 'var', type: 'directory', mode: 0o1777 },
    { path: 'var/.wh..wh..opq', type: 'file', mode: 0o644, content: '' },
    ...Array.from({ length: 120 }, (_, i): FixtureEntry => ({
      path: `app/lib/module-${i}`,
      type: 'file',
      mode: 0o644,
      content: deterministicBytes(`module-${version}-${i}`, (i * 7919) % 12_000),
    })),
  ];
}

function settingsLayer(version: number): FixtureEntry[] {
  return [
    { path: 'etc/app', type: 'directory', mode: 0o700 },
    ...Array.from({ length: 5 }, (_, i): FixtureEntry => ({ path: `etc/app/setting-${i}`, type: 'file', mode: 0o600, content: `${version}:${i}\n` })),
  ];
}

/** Publishes versions 1 to 3 into `dir`/artifacts and installs version 2 into the template store. */
export async function prepareCrashScenario(dir: string): Promise<CrashScenario> {
  const artifacts = join(dir, 'artifacts');
  const templateStore = join(dir, 'template-store');
  const trustPath = join(dir, 'root.json');
  await mkdir(artifacts, { recursive: true });
  const signer = newSigner();
  await writeFile(trustPath, trustRootJson([signer]));
  const sourceUrl = pathToFileURL(artifacts).href;
  const updateArgs = (store: string) => ['update', '--source', sourceUrl, '--channel', 'stable', '--store', store, '--trust', trustPath];
  const releases: PublishedRelease[] = [];
  for (const version of [1, 2, 3]) {
    releases.push(
      await publishTestRelease({ storeDir: artifacts, channel: 'stable', version, layers: [BASE_LAYER, appLayer(version), settingsLayer(version)], signers: [signer] }),
    );
    if (version === 3) break;
    const installed = await runApplier(updateArgs(templateStore));
    if (installed.code !== 0) throw new Error(`installing version ${version} into the template store failed: ${installed.stderr}`);
  }
  return { sourceUrl, trustPath, templateStore, known: await knownReleases(releases, await readFile(trustPath)), before: 1, from: 2, to: 3, updateArgs };
}

/** The protocol steps every update of the scenario takes: the crash tests check that each is there to aim at. */
export const SCENARIO_PHASES = [
  'remove staging (after start)',
  'rename state.json (after start)',
  'fsync . (after rename state.json #1)',
  'syncfs . (after rename state.json #1)',
  'fsync staging/<hex>.skeleton (after rename state.json #1)',
  'fsync staging/<hex>.meta (after rename state.json #1)',
  'syncfs staging/<hex> (after rename state.json #1)',
  'rename layers/<hex>.meta (after rename state.json #1)',
  'rename layers/<hex> (after rename state.json #1)',
  'fsync layers (after rename state.json #1)',
  'remove staging/downloads/<hex> (after rename state.json #1)',
  'fsync staging/image-<hex>/manifest.json (after rename state.json #1)',
  'fsync staging/image-<hex>/config.json (after rename state.json #1)',
  'fsync staging/image-<hex>/complete (after rename state.json #1)',
  'fsync staging/image-<hex> (after rename state.json #1)',
  'rename images/<hex> (after rename state.json #1)',
  'fsync images (after rename images/<hex> #1)',
  'symlink .previous.tmp-<pid> (after rename images/<hex> #1)',
  'rename previous (after rename images/<hex> #1)',
  'fsync . (after rename previous #1)',
  'symlink .current.tmp-<pid> (after rename previous #1)',
  'rename current (after rename previous #1)',
  'fsync . (after rename current #1)',
  'fsync .state.json.tmp-<pid> (after rename current #1)',
  'rename state.json (after rename current #1)',
  'fsync . (after rename state.json #2)',
  'rename images/<hex> (after rename state.json #2)',
  'rename layers/<hex> (after rename images/<hex> #2)',
  'rename layers/<hex>.meta (after rename images/<hex> #2)',
  'fsync images (after rename images/<hex> #2)',
  'fsync layers (after rename images/<hex> #2)',
  'remove staging/garbage (after rename images/<hex> #2)',
  'remove staging (after rename images/<hex> #2)',
];

/**
 * The versions `current` and `previous` name when the update stops just before step `number`:
 * the new version from the `current` swap on, the old one's predecessor as `previous` until
 * the `previous` swap. Any other outcome is a protocol step out of order.
 */
export function expectedVersions(scenario: CrashScenario, steps: CommitStep[], number: number): { current: number; previous: number } {
  return {
    current: number <= stepNumber(steps, 'rename current') ? scenario.from : scenario.to,
    previous: number <= stepNumber(steps, 'rename previous') ? scenario.before : scenario.from,
  };
}
