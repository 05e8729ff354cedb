import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { REPO_ROOT, runProcess } from './run.js';
import { REQUIRE_ALL_FEATURES } from './required-features.js';

/** A test file whose only test needs something this machine lacks. */
async function testNeedingSomethingMissing(dir: string): Promise<string> {
  const file = join(dir, 'needs-a-tool.test.ts');
  await writeFile(
    file,
    [
      "import t from 'tap';",
      `import { skipUnlessAvailable } from ${JSON.stringify(join(REPO_ROOT, 'test/helpers/required-features.ts'))};`,
      "t.test('uses the tool', { skip: skipUnlessAvailable('the-tool is not installed') }, async (t) => t.pass('ran'));",
    ].join('\n'),
  );
  return file;
}

t.test('a test that lacks a tool skips, naming it; with all features required it fails, naming it', async (t) => {
  const file = await testNeedingSomethingMissing(t.testdir());
  const env = { ...process.env };
  delete env[REQUIRE_ALL_FEATURES];
  const skipped = await runProcess(process.execPath, ['--import', 'tsx', file], { env, cwd: REPO_ROOT });
  t.equal(skipped.code, 0, 'a skip passes');
  t.match(skipped.stdout, /# SKIP the-tool is not installed/);

  const required = await runProcess(process.execPath, ['--import', 'tsx', file], { env: { ...env, [REQUIRE_ALL_FEATURES]: '1' }, cwd: REPO_ROOT });
  t.not(required.code, 0, 'with all features required, the file fails');
  t.match(required.stdout + required.stderr, /PRTIQL_REQUIRE_ALL_FEATURES=1 and this machine lacks what a test needs: the-tool is not installed/);
});

t.test('CI requires every feature', async (t) => {
  t.match(await readFile(join(REPO_ROOT, '.ci/run'), 'utf8'), new RegExp(`^export ${REQUIRE_ALL_FEATURES}=1$`, 'm'));
});
