import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { UNSAFE_NO_FSYNC, UNSAFE_NO_FSYNC_ACK, UNSAFE_NO_FSYNC_ACK_VALUE } from '../../applier/unsafe-no-fsync.js';
import { bareApplierCommand, ensureApplierBundle } from '../helpers/applier-bundle.js';
import { prepareCrashScenario, type CrashScenario } from '../helpers/crash-scenario.js';
import { recordTimeline, runInterrupted, type Timeline } from '../helpers/interrupt.js';
import { holdBackWriteback, loopDevicesUnavailable, makeExt4Image, whileDeviceQuiet, withLoopMount } from '../helpers/loop-device.js';
import { runProcess, runTool } from '../helpers/run.js';
import { checkStore, type StoreCheck } from '../helpers/store-invariant.js';

/** CI runs a few; PRTIQL_POWERCUT_ITERATIONS=50 is the long run docs/RELIABILITY.md reports. */
const ITERATIONS = Number(process.env.PRTIQL_POWERCUT_ITERATIONS ?? 5);
/** The negative control makes as many cuts, and more while it has detected nothing, up to this many. */
const NEGATIVE_CONTROL_MAX = Math.max(ITERATIONS, 10);

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

/** Processes in a process group (the applier and any `sync` it runs), from /proc. */
async function groupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid) members.push(Number(name));
  }
  return members;
}

async function allThreadsStopped(pid: number): Promise<boolean> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => []);
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

/** Times an uninterrupted update's steps (for choosing cut moments) and checks what it leaves. */
async function uninterruptedUpdate(ws: Workspace, env: NodeJS.ProcessEnv): Promise<{ timeline: Timeline; check: StoreCheck }> {
  return onFreshDisk(ws, async (_device, store) => {
    const timeline = await recordTimeline(...bareApplierCommand(ws.scenario.updateArgs(store)), env);
    return { timeline, check: await checkStore(store, ws.scenario.known) };
  });
}

/**
 * Runs an update and cuts the power at a random moment: the applier and its children are
 * frozen, the journal commits what they did, and `snapshot` gets what the disk then holds.
 * Returns the applier's last log event before the cut.
 */
async function updateAndCutPower(ws: Workspace, iteration: number, timeline: Timeline, env: NodeJS.ProcessEnv): Promise<string> {
  return onFreshDisk(ws, async (device, store) => {
    const [command, args] = bareApplierCommand(ws.scenario.updateArgs(store));
    const { during } = await runInterrupted(command, args, { detached: true, env }, timeline, async (child) => {
      const pgid = child.pid as number;
      await freezeGroup(pgid);
      await commitJournal(ws.mountPoint, iteration);
      await whileDeviceQuiet(device, () => runTool('cp', ['--sparse=always', ws.work, ws.snapshot]));
      if ((await groupMembers(pgid)).length > 0) process.kill(-pgid, 'SIGKILL');
      while ((await groupMembers(pgid)).length > 0) await sleep(5);
    });
    return during;
  });
}

/** Boots the disk copy as the device would after the power came back: fsck, mount, check; optionally the next update. */
async function inspectSnapshot(ws: Workspace, rerun: boolean): Promise<{ cut: StoreCheck; fsck: number; after?: StoreCheck; rerunCode?: number }> {
  const fsck = await runProcess('e2fsck', ['-f', '-p', ws.snapshot]);
  return withLoopMount(ws.snapshot, ws.mountPoint, [], async () => {
    const store = join(ws.mountPoint, 'store');
    const cut = await checkStore(store, ws.scenario.known, 'interrupted');
    if (!rerun) return { cut, fsck: fsck.code };
    const result = await runProcess(...bareApplierCommand(ws.scenario.updateArgs(store)));
    return { cut, fsck: fsck.code, rerunCode: result.code, after: await checkStore(store, ws.scenario.known) };
  });
}

const unavailable = await loopDevicesUnavailable();

t.test('power cuts during an update on ext4', { skip: unavailable }, async (t) => {
  const dir = t.testdir();
  const scenario = await prepareCrashScenario(join(dir, 'scenario'));
  await ensureApplierBundle();
  const ws: Workspace = { scenario, template: join(dir, 'template.img'), work: join(dir, 'work.img'), snapshot: join(dir, 'snapshot.img'), mountPoint: join(dir, 'mnt') };
  await mkdir(ws.mountPoint);
  await makeExt4Image(ws.template, 160);
  await withLoopMount(ws.template, ws.mountPoint, [], () => runTool('cp', ['-a', scenario.templateStore, join(ws.mountPoint, 'store')]));
  await holdBackWriteback(t);
  t.teardown(() => Promise.all([ws.work, ws.snapshot].map((path) => rm(path, { force: true }))));

  t.test(`${ITERATIONS} cuts at random moments: the disk always holds the old or the new version, complete`, async (t) => {
    const { timeline, check } = await uninterruptedUpdate(ws, process.env);
    t.same(check, { current: scenario.to, previous: scenario.from, problems: [] }, 'an uninterrupted update installs the new version');
    const failures: string[] = [];
    const landed = { old: 0, new: 0 };
    const phases: Record<string, number> = {};
    for (let i = 0; i < ITERATIONS; i++) {
      const during = await updateAndCutPower(ws, i, timeline, process.env);
      phases[during] = (phases[during] ?? 0) + 1;
      const what = `cut ${i} (after ${during})`;
      const { cut, fsck, after, rerunCode } = await inspectSnapshot(ws, true);
      if (fsck > 1) failures.push(`${what}: e2fsck -p exited ${fsck}`);
      if (cut.problems.length > 0) failures.push(`${what}: ${cut.problems.slice(0, 5).join('; ')}`);
      if (cut.current === scenario.from) landed.old++;
      else if (cut.current === scenario.to) landed.new++;
      else failures.push(`${what}: current is version ${cut.current}`);
      if (rerunCode !== 0 || after?.current !== scenario.to || after.problems.length > 0) {
        failures.push(`${what}: the next update exited ${rerunCode} with version ${after?.current}: ${after?.problems.slice(0, 5).join('; ')}`);
      }
    }
    t.same(failures, [], `all ${ITERATIONS} cuts left a complete version, and the next update completed`);
    t.comment(`uninterrupted update: ${timeline.stretchesMs.reduce((a, b) => a + b, 0)} ms, log: ${timeline.events.join(', ')}`);
    t.comment(`at the cut: old version ${landed.old}, new version ${landed.new}; cut after: ${JSON.stringify(phases)}`);
  });

  t.test('negative control: with fsync disabled the same cuts corrupt the store, and the check sees it', async (t) => {
    const { timeline, check } = await uninterruptedUpdate(ws, UNSAFE_ENV);
    t.same(check, { current: scenario.to, previous: scenario.from, problems: [] }, 'without a cut the unsafe update works');
    let detected = 0;
    let cuts = 0;
    const seen: string[] = [];
    while (cuts < ITERATIONS || (detected === 0 && cuts < NEGATIVE_CONTROL_MAX)) {
      await updateAndCutPower(ws, cuts, timeline, UNSAFE_ENV);
      cuts++;
      const { cut } = await inspectSnapshot(ws, false);
      if (cut.problems.length > 0) {
        detected++;
        seen.push(cut.problems[0]);
      }
    }
    t.ok(detected > 0, `the check found a damaged store after ${detected} of ${cuts} cuts`);
    t.comment(`negative control: ${detected} of ${cuts} cuts damaged the store; first problem: ${seen[0]}`);
  });
});
