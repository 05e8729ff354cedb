import t, { type Test } from 'tap';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { planDemoApp, writeDemoDependencies } from '../../../scripts/lib/demo-app.js';

async function writePackage(directory: string, manifest: Record<string, unknown>, files: Record<string, string> = {}): Promise<void> {
  await mkdir(directory, { recursive: true });
  await writeFile(join(directory, 'package.json'), JSON.stringify(manifest));
  for (const [name, text] of Object.entries(files)) await writeFile(join(directory, name), text);
}

/** An npm install tree: a@2 and b@1 in production, b depending on a@1 (nested), dev-only c@1. */
async function installedRepository(t: Test): Promise<string> {
  const repository = t.testdir();
  await writePackage(repository, { name: 'app', version: '1.0.0', dependencies: { a: '^2.0.0', b: '^1.0.0' }, devDependencies: { c: '^1.0.0' } });
  await writePackage(join(repository, 'node_modules/a'), { name: 'a', version: '2.0.0' }, { 'index.js': 'a two' });
  await writePackage(join(repository, 'node_modules/b'), { name: 'b', version: '1.0.0', dependencies: { a: '^1.0.0' } }, { 'index.js': 'b one' });
  await writePackage(join(repository, 'node_modules/b/node_modules/a'), { name: 'a', version: '1.0.0' }, { 'index.js': 'a one' });
  await writePackage(join(repository, 'node_modules/c'), { name: 'c', version: '1.0.0' }, { 'index.js': 'c one' });
  return repository;
}

t.test('the app ships the production tree; v1 has each package that is also installed older at that older version', async (t) => {
  const repository = await installedRepository(t);
  const plan = await planDemoApp(repository);
  t.same([...plan.paths].sort(), ['node_modules/a', 'node_modules/b', 'node_modules/b/node_modules/a'], 'dev-only c is left out');
  t.same([...plan.olderCopies.keys()], ['node_modules/a']);
  t.equal(plan.olderCopies.get('node_modules/a')?.version, '1.0.0');

  const v1 = join(repository, 'v1');
  const v2 = join(repository, 'v2');
  await writeDemoDependencies(plan, repository, v1, 1);
  await writeDemoDependencies(plan, repository, v2, 2);
  t.equal(await readFile(join(v1, 'node_modules/a/index.js'), 'utf8'), 'a one');
  t.equal(await readFile(join(v2, 'node_modules/a/index.js'), 'utf8'), 'a two');
  for (const tree of [v1, v2]) {
    t.equal(await readFile(join(tree, 'node_modules/b/node_modules/a/index.js'), 'utf8'), 'a one', 'nested packages keep their place');
    t.same((await readdir(join(tree, 'node_modules'))).sort(), ['a', 'b']);
  }
});
