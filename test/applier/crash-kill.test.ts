import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { ensureApplierBundle, runApplier } from '../helpers/applier-bundle.js';
import { prepareCrashScenario } from '../helpers/crash-scenario.js';
import { runTool } from '../helpers/run.js';
import { startApplier } from '../helpers/running-applier.js';
import { checkStore } from '../helpers/store-invariant.js';

/** CI runs a few; PRTIQL_CRASH_ITERATIONS=200 is the long run docs/RELIABILITY.md reports. */
const ITERATIONS = Number(process.env.PRTIQL_CRASH_ITERATIONS ?? 20);

/** The event of the applier's last JSON log line: how far the killed update got. */
function lastEvent(stderr: string): string {
  const events = stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => (JSON.parse(line) as { event: string }).event);
  return events.at(-1) ?? '(nothing logged yet)';
}

t.test(`kill -9 at ${ITERATIONS} random moments of an update, then a re-run`, async (t) => {
  const dir = t.testdir();
  const scenario = await prepareCrashScenario(dir);
  await ensureApplierBundle();
  const store = join(dir, 'store');
  const args = scenario.updateArgs(store);
  const reset = async () => {
    await rm(store, { recursive: true, force: true });
    await runTool('cp', ['-a', scenario.templateStore, store]);
  };

  // the kills land anywhere in the time an uninterrupted update takes (the faster of two runs)
  let duration = Infinity;
  for (const run of [1, 2]) {
    await reset();
    const started = Date.now();
    const uninterrupted = await runApplier(args);
    duration = Math.min(duration, Date.now() - started);
    t.equal(uninterrupted.code, 0, `uninterrupted update ${run} exits 0`);
    t.same(await checkStore(store, scenario.known), { current: scenario.to, problems: [] }, `uninterrupted update ${run} installs the new version`);
  }

  const failures: string[] = [];
  const landed = { old: 0, new: 0 };
  const phases: Record<string, number> = {};
  for (let i = 0; i < ITERATIONS; i++) {
    await reset();
    const delay = Math.floor(Math.random() * duration);
    const running = startApplier(args);
    const timer = setTimeout(() => process.kill(running.pid, 'SIGKILL'), delay);
    const result = await running.done;
    clearTimeout(timer);
    const phase = result.code === 0 ? '(finished before the kill)' : lastEvent(result.stderr);
    phases[phase] = (phases[phase] ?? 0) + 1;
    const what = `kill ${i} after ${delay} ms (${phase})`;

    const killed = await checkStore(store, scenario.known);
    if (killed.problems.length > 0) failures.push(`${what}: ${killed.problems.join('; ')}`);
    if (killed.current === scenario.from) landed.old++;
    else if (killed.current === scenario.to) landed.new++;
    else failures.push(`${what}: current is version ${killed.current}`);

    const rerun = await runApplier(args);
    const after = await checkStore(store, scenario.known);
    if (rerun.code !== 0) failures.push(`${what}: the re-run failed: ${rerun.stderr.trim().split('\n').at(-1)}`);
    if (after.current !== scenario.to || after.problems.length > 0) failures.push(`${what}: after the re-run: version ${after.current}, ${after.problems.join('; ')}`);
  }
  t.same(failures, [], `every one of ${ITERATIONS} kills left a complete version and the re-run completed the update`);
  t.equal(landed.old + landed.new, ITERATIONS);
  t.comment(`uninterrupted update: ${duration} ms; after the kill: old version ${landed.old}, new version ${landed.new}`);
  t.comment(`killed during (last log event): ${JSON.stringify(phases)}`);
});
