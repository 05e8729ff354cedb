import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { UNSAFE_NO_FSYNC, UNSAFE_NO_FSYNC_ACK, UNSAFE_NO_FSYNC_ACK_VALUE } from '../../../applier/commands/unsafe-no-fsync.js';
import { bareApplierCommand, ensureApplierBundle } from '../../helpers/applier-bundle.js';
import { listCommitSteps, oneStepPerPhase, runToStep, spreadSteps, type AimedInterruption, type CommitStep } from '../../helpers/commit-steps.js';
import { expectedVersions, prepareCrashScenario, SCENARIO_PHASES, type CrashScenario } from '../../helpers/crash-scenario.js';
import { holdBackWriteback, loopDevicesUnavailable, makeExt4Image, whileDeviceQuiet, withLoopMount } from '../../helpers/loop-device.js';
import { memoryTestDir } from '../../helpers/memory-dir.js';
import { runProcess, runTool } from '../../helpers/run.js';
import { unlessMissing } from '../../helpers/unless-missing.js';
import { checkStore, type StoreCheck } from '../../helpers/store-invariant.js';
import { skipUnlessAvailable } from '../../helpers/required-features.js';

/**
 * CI cuts the power once in every phase of the update's commit protocol (a random step of
 * each); PRTIQL_POWERCUT_CUTS=<n> makes n cuts instead, spread evenly over all steps: the
 * long run docs/RELIABILITY.md reports.
 */
const LONG_RUN_CUTS = process.env.PRTIQL_POWERCUT_CUTS === undefined ? undefined : Number(process.env.PRTIQL_POWERCUT_CUTS);
/** Cuts of the negative control, each after the first layer is committed. */
const NEGATIVE_CONTROL_CUTS = 4;

/**
 * A journal commit interval long enough that only fsync commits the journal, and no kernel
 * writeback: what reaches the disk is what the applier synced, plus the metadata of the
 * commit the test forces at the cut (ext4 commits metadata every few seconds, without the data
 * of files not yet written back: the state that loses unsynced files).
 */
const MOUNT_OPTIONS = ['commit=600'];

const UNSAFE_ENV = { ...process.env, [UNSAFE_NO_FSYNC]: '1', [UNSAFE_NO_FSYNC_ACK]: UNSAFE_NO_FSYNC_ACK_VALUE };

interface Workspace {
  scenario: CrashScenario;
  /** ext4 image holding the scenario's template store at /store. */
  template: string;
  work: string;
  snapshot: string;
  mountPoint: string;
}

/**
 * Live processes in a process group (the applier and the shell that runs its `sync -f`), from
 * /proc. Zombies are left out: they do no I/O, and one whose parent died waits for init to reap it.
 */
async function groupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') members.push(Number(name));
  }
  return members;
}

async function allThreadsStopped(pid: number): Promise<boolean> {
  const tasks = (await unlessMissing(readdir(`/proc/${pid}/task`))) ?? [];
  for (const task of tasks) {
    const stat = await readFile(`/proc/${pid}/task/${task}/stat`, 'utf8').catch(() => ') X');
    if (!'TtZX'.includes(stat.slice(stat.lastIndexOf(')') + 2)[0])) return false;
  }
  return true;
}

/** SIGSTOPs the group until every thread of every member is stopped: none can issue I/O any more. */
async function freezeGroup(pgid: number): Promise<void> {
  for (;;) {
    const members = await groupMembers(pgid);
    if (members.length === 0) return;
    try {
      process.kill(-pgid, 'SIGSTOP');
    } catch {
      return;
    }
    const stopped = await Promise.all(members.map(allThreadsStopped));
    if (stopped.every(Boolean)) return;
    await sleep(1);
  }
}

/** Commits the file system's journal as its periodic commit would: metadata, and no unsynced data. */
async function commitJournal(mountPoint: string, iteration: number): Promise<void> {
  const handle = await open(join(mountPoint, `cut-${iteration}`), 'w');
  await handle.write('cut\n');
  await handle.sync();
  await handle.close();
}

/** `applier update` on a fresh copy of the template image, mounted; `task` gets the mount's loop device. */
async function onFreshDisk<T>(ws: Workspace, task: (device: string, store: string) => Promise<T>): Promise<T> {
  await runTool('cp', ['--sparse=always', ws.template, ws.work]);
  return withLoopMount(ws.work, ws.mountPoint, MOUNT_OPTIONS, (device) => task(device, join(ws.mountPoint, 'store')));
}

/** Lists an uninterrupted update's steps (to aim the cuts at) and checks what it leaves. */
async function uninterruptedUpdate(ws: Workspace, env: NodeJS.ProcessEnv): Promise<{ steps: CommitStep[]; check: StoreCheck }> {
  return onFreshDisk(ws, async (_device, store) => {
    const steps = await listCommitSteps(...bareApplierCommand(ws.scenario.updateArgs(store)), store, env);
    return { steps, check: await checkStore(store, ws.scenario.known) };
  });
}

/**
 * Runs an update and cuts the power just before step `number`: the applier stops itself
 * there, its process group is frozen, the journal commits what they did, and `snapshot` gets
 * what the disk then holds.
 */
async function updateAndCutPower(ws: Workspace, iteration: number, number: number, env: NodeJS.ProcessEnv): Promise<AimedInterruption> {
  return onFreshDisk(ws, async (device, store) => {
    const [command, args] = bareApplierCommand(ws.scenario.updateArgs(store));
    return runToStep(command, args, { detached: true, env }, number, 'STOP', async (pgid) => {
      await freezeGroup(pgid);
      await commitJournal(ws.mountPoint, iteration);
      await whileDeviceQuiet(device, () => runTool('cp', ['--sparse=always', ws.work, ws.snapshot]));
      process.kill(-pgid, 'SIGKILL');
      while ((await groupMembers(pgid)).length > 0) await sleep(5);
    });
  });
}

/** Boots the disk copy as the device would after the power came back: fsck, mount, check; optionally the next update. */
async function inspectSnapshot(ws: Workspace, rerun: boolean): Promise<{ cut: StoreCheck; fsck: number; after?: StoreCheck; rerunCode?: number; rerunLog?: string }> {
  const fsck = await runProcess('e2fsck', ['-f', '-p', ws.snapshot]);
  return withLoopMount(ws.snapshot, ws.mountPoint, [], async () => {
    const store = join(ws.mountPoint, 'store');
    const cut = await checkStore(store, ws.scenario.known, 'interrupted');
    if (!rerun) return { cut, fsck: fsck.code };
    const result = await runProcess(...bareApplierCommand(ws.scenario.updateArgs(store)));
    return { cut, fsck: fsck.code, rerunCode: result.code, rerunLog: result.stderr, after: await checkStore(store, ws.scenario.known) };
  });
}

const unavailable = skipUnlessAvailable(await loopDevicesUnavailable());

t.test('power cuts during an update on ext4', { skip: unavailable }, async (t) => {
  const dir = await memoryTestDir(t);
  const scenario = await prepareCrashScenario(join(dir, 'scenario'));
  await ensureApplierBundle();
  const ws: Workspace = { scenario, template: join(dir, 'template.img'), work: join(dir, 'work.img'), snapshot: join(dir, 'snapshot.img'), mountPoint: join(dir, 'mnt') };
  await mkdir(ws.mountPoint);
  await makeExt4Image(ws.template, 160);
  await withLoopMount(ws.template, ws.mountPoint, [], () => runTool('cp', ['-a', scenario.templateStore, join(ws.mountPoint, 'store')]));
  await holdBackWriteback(t);
  t.teardown(() => Promise.all([ws.work, ws.snapshot].map((path) => rm(path, { force: true }))));

  t.test('cuts just before each step of the commit protocol: the disk always holds the old or the new version, complete', async (t) => {
    const { steps, check } = await uninterruptedUpdate(ws, process.env);
    t.same(check, { current: scenario.to, previous: scenario.from, problems: [] }, 'an uninterrupted update installs the new version');
    const phases = [...new Set(steps.map((step) => step.phase))];
    t.same(SCENARIO_PHASES.filter((phase) => !phases.includes(phase)), [], 'every protocol step is there to aim at');
    const targets = LONG_RUN_CUTS === undefined ? oneStepPerPhase(steps) : spreadSteps(steps, LONG_RUN_CUTS);
    const failures: string[] = [];
    const cutIn = new Set<string>();
    const landed = { old: 0, new: 0 };
    for (const [i, target] of targets.entries()) {
      const what = `cut before step ${target.number} (${target.phase})`;
      const stopped = await updateAndCutPower(ws, i, target.number, process.env);
      if (stopped.reached?.step !== target.number) {
        failures.push(`${what}: the update did not stop there (it ended with code ${stopped.code}, signal ${stopped.signal})`);
        continue;
      }
      cutIn.add(target.phase);
      const expected = expectedVersions(scenario, steps, target.number);
      const { cut, fsck, after, rerunCode } = await inspectSnapshot(ws, true);
      if (fsck > 1) failures.push(`${what}: e2fsck -p exited ${fsck}`);
      if (cut.problems.length > 0) failures.push(`${what}: ${cut.problems.slice(0, 5).join('; ')}`);
      if (cut.current !== expected.current || cut.previous !== expected.previous) {
        failures.push(`${what}: current ${cut.current} and previous ${cut.previous}, expected ${expected.current} and ${expected.previous}`);
      }
      if (cut.current === scenario.from) landed.old++;
      else landed.new++;
      if (rerunCode !== 0 || after?.current !== scenario.to || after.previous !== scenario.from || after.problems.length > 0) {
        failures.push(`${what}: the next update exited ${rerunCode} with current ${after?.current}, previous ${after?.previous}: ${after?.problems.slice(0, 5).join('; ')}`);
      }
    }
    t.same(failures, [], `each of ${targets.length} cuts left the old or the new version, complete, and the next update completed`);
    t.same([...cutIn].sort(), [...new Set(targets.map((target) => target.phase))].sort(), 'every aimed cut landed on its step');
    t.comment(`${steps.length} steps in ${phases.length} phases; ${targets.length} cuts: old version ${landed.old}, new version ${landed.new}`);
  });

  t.test('a power cut after a staged download was synced: the next update resumes from the synced chunks', async (t) => {
    const { steps } = await uninterruptedUpdate(ws, process.env);
    // The store's write-back starts a sync only once the one before it has ended: stopped just
    // before the second, the first has put the staged chunks written before it on the disk.
    const second = steps.filter((step) => step.kind === 'syncfs .')[1] as CommitStep;
    t.ok(second && steps.some((step) => step.number > second.number && step.kind === 'fsync staging/<hex>.skeleton'), 'the second write-back sync comes while a layer is still being fetched');
    const stopped = await updateAndCutPower(ws, 0, second.number, process.env);
    t.equal(stopped.reached?.step, second.number, `the update stopped just before its second write-back sync (step ${second.number})`);
    const { cut, after, rerunCode, rerunLog } = await inspectSnapshot(ws, true);
    t.same(cut.problems, [], 'the cut left a consistent store');
    t.equal(rerunCode, 0, 'the next update succeeds');
    t.same(after, { current: scenario.to, previous: scenario.from, problems: [] });
    const progress = (rerunLog ?? '').split('\n').filter((line) => line.includes('"event":"update.progress"'));
    const resumed = (JSON.parse(progress.at(-1) ?? '{}') as { resumed?: number }).resumed ?? 0;
    t.ok(resumed > 0, `it took ${resumed} bytes from the staged download, synced before the cut`);
  });

  t.test('negative control: with fsync disabled, every cut after the first layer is committed damages the store, and the check sees it', async (t) => {
    const { steps, check } = await uninterruptedUpdate(ws, UNSAFE_ENV);
    t.same(check, { current: scenario.to, previous: scenario.from, problems: [] }, 'without a cut the unsafe update works');
    const firstLayer = steps.find((step) => step.kind === 'rename layers/<hex>') as CommitStep;
    const after = steps.filter((step) => step.number > firstLayer.number);
    const seen: string[] = [];
    for (let i = 0; i < NEGATIVE_CONTROL_CUTS; i++) {
      const target = after[Math.floor(Math.random() * after.length)];
      const stopped = await updateAndCutPower(ws, i, target.number, UNSAFE_ENV);
      t.equal(stopped.reached?.step, target.number, `the update stopped before step ${target.number} (${target.phase})`);
      const { cut } = await inspectSnapshot(ws, false);
      t.ok(cut.problems.length > 0, `the check found the damage of a cut before step ${target.number} (${target.phase})`);
      seen.push(cut.problems[0]);
    }
    t.comment(`negative control: first problems: ${seen.join(' | ')}`);
  });
});
