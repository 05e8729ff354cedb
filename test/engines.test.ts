import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import semver from 'semver';
import t from 'tap';

/**
 * package.json's engines.node is true to what runs in production: every package the production
 * dependencies pull in (not dev tools) admits the lowest Node version it declares.
 */

const root = join(import.meta.dirname, '..');

interface PackageJson {
  name?: string;
  version?: string;
  engines?: { node?: string };
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

const readPackage = (directory: string) => JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as PackageJson;

/** The directory Node loads `name` from when `from` requires it: the nearest node_modules/<name> up the tree. */
function resolvePackage(name: string, from: string): string | undefined {
  for (let directory = from; ; directory = dirname(directory)) {
    const candidate = join(directory, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(directory) === directory) return undefined;
  }
}

/** Every package the production dependencies of `directory` reach, by directory. */
function productionPackages(directory: string): Map<string, PackageJson> {
  const found = new Map<string, PackageJson>();
  const pending = [directory];
  while (pending.length > 0) {
    const current = pending.pop()!;
    const manifest = readPackage(current);
    const required = Object.keys(manifest.dependencies ?? {});
    const optional = Object.keys(manifest.optionalDependencies ?? {});
    for (const name of [...required, ...optional]) {
      const location = resolvePackage(name, current);
      if (!location) {
        if (required.includes(name)) throw new Error(`${name}, a dependency of ${manifest.name ?? current}, is not installed`);
        continue;
      }
      if (found.has(location)) continue;
      found.set(location, readPackage(location));
      pending.push(location);
    }
  }
  return found;
}

t.test('every production package admits the lowest Node version package.json declares', async (t) => {
  const declared = readPackage(root).engines?.node;
  t.ok(declared, 'package.json declares engines.node');
  const lowest = semver.minVersion(declared!)!;
  const packages = productionPackages(root);
  t.ok(packages.size > 20, `${packages.size} production packages`);
  const refusing = [...packages.values()]
    .filter((manifest) => manifest.engines?.node !== undefined && !semver.satisfies(lowest, manifest.engines.node))
    .map((manifest) => `${manifest.name}@${manifest.version} needs Node ${manifest.engines!.node}`);
  t.same(refusing, [], `every package runs on Node ${lowest}`);
  t.ok([...packages.values()].some((manifest) => manifest.name === 'undici' && manifest.engines?.node), 'undici, whose engines field set the minimum, is among them');
});

t.test('a declared minimum below a dependency\'s is caught', async (t) => {
  const undici = [...productionPackages(root).values()].find((manifest) => manifest.name === 'undici')!;
  t.notOk(semver.satisfies(semver.minVersion('>=20.11')!, undici.engines!.node!), 'Node 20.11 would not satisfy undici');
});
