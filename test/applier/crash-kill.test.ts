import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { bareApplierCommand, ensureApplierBundle } from '../helpers/applier-bundle.js';
import { prepareCrashScenario } from '../helpers/crash-scenario.js';
import { recordTimeline, runInterrupted } from '../helpers/interrupt.js';
import { runProcess, runTool } from '../helpers/run.js';
import { checkStore } from '../helpers/store-invariant.js';

/** CI runs a few; PRTIQL_CRASH_ITERATIONS=200 is the long run docs/RELIABILITY.md reports. */
const ITERATIONS = Number(process.env.PRTIQL_CRASH_ITERATIONS ?? 20);

t.test(`kill -9 at ${ITERATIONS} random moments of an update, then a re-run`, async (t) => {
  const dir = t.testdir();
  const scenario = await prepareCrashScenario(dir);
  await ensureApplierBundle();
  const store = join(dir, 'store');
  const [command, args] = bareApplierCommand(scenario.updateArgs(store));
  const reset = async () => {
    await rm(store, { recursive: true, force: true });
    await runTool('cp', ['-a', scenario.templateStore, store]);
  };

  await reset();
  const timeline = await recordTimeline(command, args);
  t.same(await checkStore(store, scenario.known), { current: scenario.to, previous: scenario.from, problems: [] }, 'an uninterrupted update installs the new version');

  const failures: string[] = [];
  const landed = { old: 0, new: 0 };
  const phases: Record<string, number> = {};
  for (let i = 0; i < ITERATIONS; i++) {
    await reset();
    const { during } = await runInterrupted(command, args, {}, timeline, async (child) => {
      child.kill('SIGKILL');
    });
    phases[during] = (phases[during] ?? 0) + 1;
    const what = `kill ${i} (after ${during})`;

    const killed = await checkStore(store, scenario.known, 'interrupted');
    if (killed.problems.length > 0) failures.push(`${what}: ${killed.problems.join('; ')}`);
    if (killed.current === scenario.from) landed.old++;
    else if (killed.current === scenario.to) landed.new++;
    else failures.push(`${what}: current is version ${killed.current}`);

    const rerun = await runProcess(command, args);
    const after = await checkStore(store, scenario.known);
    if (rerun.code !== 0) failures.push(`${what}: the re-run failed: ${rerun.stderr.trim().split('\n').at(-1)}`);
    if (after.current !== scenario.to || after.problems.length > 0) failures.push(`${what}: after the re-run: version ${after.current}, ${after.problems.join('; ')}`);
  }
  t.same(failures, [], `every one of ${ITERATIONS} kills left a complete version and the re-run completed the update`);
  t.comment(`uninterrupted update: ${timeline.stretchesMs.reduce((a, b) => a + b, 0)} ms, log: ${timeline.events.join(', ')}`);
  t.comment(`after the kill: old version ${landed.old}, new version ${landed.new}; killed after: ${JSON.stringify(phases)}`);
});
