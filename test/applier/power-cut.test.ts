import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { UNSAFE_NO_FSYNC, UNSAFE_NO_FSYNC_ACK, UNSAFE_NO_FSYNC_ACK_VALUE } from '../../applier/unsafe-no-fsync.js';
import { APPLIER_BUNDLE, ensureApplierBundle, runApplier } from '../helpers/applier-bundle.js';
import { prepareCrashScenario, type CrashScenario } from '../helpers/crash-scenario.js';
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

/** Cuts fall anywhere in an uninterrupted update's time and a little after it. */
const CUT_WINDOW = 1.1;

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

/**
 * Starts `applier update` on a fresh copy of the template image, cuts the power `delayMs`
 * later (or once it finished), and leaves in `snapshot` what the disk held at that moment.
 * Returns the applier's last log event, for the report.
 */
async function updateAndCutPower(ws: Workspace, iteration: number, delayMs: number, env: NodeJS.ProcessEnv): Promise<string> {
  await runTool('cp', ['--sparse=always', ws.template, ws.work]);
  return withLoopMount(ws.work, ws.mountPoint, MOUNT_OPTIONS, async (device) => {
    const child = spawn(process.execPath, [APPLIER_BUNDLE, ...ws.scenario.updateArgs(join(ws.mountPoint, 'store'))], {
      detached: true,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (log += text));
    const exited = once(child, 'close');
    await Promise.race([sleep(delayMs), exited]);
    const pgid = child.pid as number;
    await freezeGroup(pgid);
    await commitJournal(ws.mountPoint, iteration);
    await whileDeviceQuiet(device, () => runTool('cp', ['--sparse=always', ws.work, ws.snapshot]));
    if ((await groupMembers(pgid)).length > 0) process.kill(-pgid, 'SIGKILL');
    await exited;
    while ((await groupMembers(pgid)).length > 0) await sleep(5);
    const events = log.split('\n').filter((line) => line.startsWith('{')).map((line) => (JSON.parse(line) as { event: string }).event);
    return child.exitCode === 0 ? '(finished before the cut)' : (events.at(-1) ?? '(nothing logged yet)');
  });
}

/** Boots the disk copy as the device would after the power came back: fsck, mount, check; optionally the next update. */
async function inspectSnapshot(ws: Workspace, rerun: boolean): Promise<{ cut: StoreCheck; fsck: number; after?: StoreCheck; rerunCode?: number }> {
  const fsck = await runProcess('e2fsck', ['-f', '-p', ws.snapshot]);
  return withLoopMount(ws.snapshot, ws.mountPoint, [], async () => {
    const store = join(ws.mountPoint, 'store');
    const cut = await checkStore(store, ws.scenario.known);
    if (!rerun) return { cut, fsck: fsck.code };
    const result = await runApplier(ws.scenario.updateArgs(store));
    return { cut, fsck: fsck.code, rerunCode: result.code, after: await checkStore(store, ws.scenario.known) };
  });
}

/** How long an uninterrupted update takes on the loop device (the faster of two runs, in ms), and what it leaves. */
async function uninterruptedUpdate(ws: Workspace, env: NodeJS.ProcessEnv): Promise<{ ms: number; check: StoreCheck }> {
  let fastest = { ms: Infinity, check: { current: null, problems: ['not run'] } as StoreCheck };
  for (let run = 0; run < 2; run++) {
    await runTool('cp', ['--sparse=always', ws.template, ws.work]);
    const measured = await withLoopMount(ws.work, ws.mountPoint, MOUNT_OPTIONS, async () => {
      const store = join(ws.mountPoint, 'store');
      const started = Date.now();
      const result = await runProcess(process.execPath, [APPLIER_BUNDLE, ...ws.scenario.updateArgs(store)], { env });
      const ms = Date.now() - started;
      if (result.code !== 0) throw new Error(`uninterrupted update failed: ${result.stderr}`);
      return { ms, check: await checkStore(store, ws.scenario.known) };
    });
    if (measured.ms < fastest.ms) fastest = measured;
  }
  return fastest;
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
    const calibration = await uninterruptedUpdate(ws, process.env);
    t.same(calibration.check, { current: scenario.to, problems: [] }, 'an uninterrupted update installs the new version');
    const failures: string[] = [];
    const landed = { old: 0, new: 0 };
    const phases: Record<string, number> = {};
    for (let i = 0; i < ITERATIONS; i++) {
      const delay = Math.floor(Math.random() * calibration.ms * CUT_WINDOW);
      const phase = await updateAndCutPower(ws, i, delay, process.env);
      phases[phase] = (phases[phase] ?? 0) + 1;
      const what = `cut ${i} after ${delay} ms (${phase})`;
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
    t.comment(`uninterrupted update: ${calibration.ms} ms; at the cut: old version ${landed.old}, new version ${landed.new}`);
    t.comment(`cut during (last log event): ${JSON.stringify(phases)}`);
  });

  t.test('negative control: with fsync disabled the same cuts corrupt the store, and the check sees it', async (t) => {
    const calibration = await uninterruptedUpdate(ws, UNSAFE_ENV);
    t.same(calibration.check, { current: scenario.to, problems: [] }, 'without a cut the unsafe update works');
    let detected = 0;
    let cuts = 0;
    const seen: string[] = [];
    while (cuts < ITERATIONS || (detected === 0 && cuts < NEGATIVE_CONTROL_MAX)) {
      const delay = Math.floor(Math.random() * calibration.ms * CUT_WINDOW);
      await updateAndCutPower(ws, cuts, delay, UNSAFE_ENV);
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
