import { execFileSync } from 'node:child_process';
import { cp, mkdir, readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import semver from 'semver';

interface InstalledPackage {
  name: string;
  version: string;
  directory: string;
}

export interface DemoAppPlan {
  /** Package directories relative to the repository (node_modules/…), as npm installed them. */
  paths: string[];
  /** For each path whose package v1 ships at an older version: the older copy's directory. */
  olderCopies: Map<string, InstalledPackage>;
}

async function packageAt(directory: string): Promise<InstalledPackage | undefined> {
  try {
    const { name, version } = JSON.parse(await readFile(join(directory, 'package.json'), 'utf8'));
    return typeof name === 'string' && semver.valid(version) ? { name, version, directory } : undefined;
  } catch {
    return undefined;
  }
}

/** Every package npm installed under `nodeModules`, nested ones included. */
async function installedPackages(nodeModules: string): Promise<InstalledPackage[]> {
  const found: InstalledPackage[] = [];
  const visit = async (folder: string): Promise<void> => {
    const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      const directory = join(folder, entry.name);
      if (entry.name.startsWith('@')) {
        await visit(directory);
        continue;
      }
      const installed = await packageAt(directory);
      if (installed) found.push(installed);
      await visit(join(directory, 'node_modules'));
    }
  };
  await visit(nodeModules);
  return found;
}

/**
 * The demo app's dependencies are this repository's production dependency tree as npm
 * installed it (v2). v1 is the same app one `npm update` earlier: every package this machine
 * also has at an older version (another package depends on it) ships at that older version.
 */
export async function planDemoApp(repository: string): Promise<DemoAppPlan> {
  const parseable = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: repository, encoding: 'utf8' });
  const paths = parseable
    .split('\n')
    .filter((line) => line.startsWith(join(repository, 'node_modules') + '/'))
    .map((line) => relative(repository, line));
  const oldest = new Map<string, InstalledPackage>();
  for (const installed of await installedPackages(join(repository, 'node_modules'))) {
    const known = oldest.get(installed.name);
    if (!known || semver.lt(installed.version, known.version)) oldest.set(installed.name, installed);
  }
  const olderCopies = new Map<string, InstalledPackage>();
  for (const path of paths) {
    const current = await packageAt(join(repository, path));
    const older = current && oldest.get(current.name);
    if (older && semver.lt(older.version, current.version)) olderCopies.set(path, older);
  }
  return { paths, olderCopies };
}

/** Copies version `version` of the demo app's dependency tree into `target`/node_modules/…. */
export async function writeDemoDependencies(plan: DemoAppPlan, repository: string, target: string, version: 1 | 2): Promise<void> {
  for (const path of plan.paths) {
    const source = version === 1 ? (plan.olderCopies.get(path)?.directory ?? join(repository, path)) : join(repository, path);
    const destination = join(target, path);
    await mkdir(dirname(destination), { recursive: true });
    await cp(source, destination, {
      recursive: true,
      filter: (from) => relative(source, from).split('/')[0] !== 'node_modules',
    });
  }
}
