import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { bareApplierCommand, ensureApplierBundle } from '../../helpers/applier-bundle.js';
import { listCommitSteps, oneStepPerPhase, runToStep, spreadSteps, stepNumber, type CommitStep } from '../../helpers/commit-steps.js';
import { expectedVersions, prepareCrashScenario, SCENARIO_PHASES } from '../../helpers/crash-scenario.js';
import { memoryTestDir } from '../../helpers/memory-dir.js';
import { runProcess, runTool } from '../../helpers/run.js';
import { checkStore } from '../../helpers/store-invariant.js';

/**
 * CI kills the update once in every phase of its commit protocol (a random step of each);
 * PRTIQL_CRASH_KILLS=<n> makes n kills instead, spread evenly over all steps: the long
 * run docs/RELIABILITY.md reports.
 */
const LONG_RUN_KILLS = process.env.PRTIQL_CRASH_KILLS === undefined ? undefined : Number(process.env.PRTIQL_CRASH_KILLS);

t.test('kill -9 just before each step of an update\'s commit protocol, then a re-run', async (t) => {
  const dir = await memoryTestDir(t);
  const scenario = await prepareCrashScenario(dir);
  await ensureApplierBundle();
  const store = join(dir, 'store');
  const [command, args] = bareApplierCommand(scenario.updateArgs(store));
  const reset = async () => {
    await rm(store, { recursive: true, force: true });
    await runTool('cp', ['-a', scenario.templateStore, store]);
  };

  await reset();
  const steps = await listCommitSteps(command, args, store);
  t.same(await checkStore(store, scenario.known), { current: scenario.to, previous: scenario.from, problems: [] }, 'an uninterrupted update installs the new version');
  const phases = [...new Set(steps.map((step) => step.phase))];
  t.same(SCENARIO_PHASES.filter((phase) => !phases.includes(phase)), [], 'every protocol step is there to aim at');

  const targets: CommitStep[] =
    LONG_RUN_KILLS === undefined ? oneStepPerPhase(steps) : spreadSteps(steps, LONG_RUN_KILLS);
  const failures: string[] = [];
  const killedIn = new Set<string>();
  const landed = { old: 0, new: 0 };
  for (const target of targets) {
    await reset();
    const what = `kill before step ${target.number} (${target.phase})`;
    const killed = await runToStep(command, args, {}, target.number, 'KILL');
    if (killed.reached?.step !== target.number || killed.signal !== 'SIGKILL') {
      failures.push(`${what}: the update was not killed there (it ended with code ${killed.code}, signal ${killed.signal})`);
      continue;
    }
    killedIn.add(target.phase);

    const expected = expectedVersions(scenario, steps, target.number);
    const after = await checkStore(store, scenario.known, 'interrupted');
    if (after.problems.length > 0) failures.push(`${what}: ${after.problems.join('; ')}`);
    if (after.current !== expected.current || after.previous !== expected.previous) {
      failures.push(`${what}: current ${after.current} and previous ${after.previous}, expected ${expected.current} and ${expected.previous}`);
    }
    if (after.current === scenario.from) landed.old++;
    else landed.new++;

    const rerun = await runProcess(command, args);
    if (rerun.code !== 0) failures.push(`${what}: the re-run failed: ${rerun.stderr.trim().split('\n').at(-1)}`);
    const settled = await checkStore(store, scenario.known);
    if (settled.current !== scenario.to || settled.previous !== scenario.from || settled.problems.length > 0) {
      failures.push(`${what}: after the re-run: current ${settled.current}, previous ${settled.previous}; ${settled.problems.join('; ')}`);
    }
  }
  t.same(failures, [], `each of ${targets.length} kills left the old or the new version, complete, and the re-run completed the update`);
  t.same([...killedIn].sort(), [...new Set(targets.map((target) => target.phase))].sort(), 'every aimed kill landed on its step');
  t.comment(`${steps.length} steps in ${phases.length} phases; ${targets.length} kills: old version ${landed.old}, new version ${landed.new}`);

  await reset();
  await runToStep(command, args, {}, stepNumber(steps, 'rename current'), 'KILL');
  const betweenSwaps = await checkStore(store, scenario.known, 'interrupted');
  t.same(betweenSwaps, { current: scenario.from, previous: scenario.from, problems: [] }, 'killed between the pointer swaps: previous already names current');
  const gc = await runProcess(...bareApplierCommand(['gc', '--store', store]));
  t.equal(gc.code, 0, gc.stderr);
  t.same(await checkStore(store, scenario.known, 'interrupted'), betweenSwaps, 'applier gc keeps the rollback target state.json records');
});
