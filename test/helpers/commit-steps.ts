import { spawn, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { readFile, realpath } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { TEST_STEPS } from '../../filesystem/crash-point.js';

/**
 * The steps of an update's commit protocol (filesystem/crash-point.ts): every fsync,
 * syncfs, rename, symlink and deletion, in order, and interruptions aimed at one of them.
 */
export interface CommitStep {
  /** 1 for the first step of the run. */
  number: number;
  operation: string;
  /** Relative to the store: hex digests as <hex>, a temporary's pid as <pid>, entries of a staged layer as <file> or <dir>/. */
  kind: string;
  /**
   * The protocol step it belongs to: its kind, and the last step that moved the store to a new
   * stage (a state.json, image or pointer rename) before it. Every layer's files are one phase;
   * `fsync .` after each replacement is a phase of its own.
   */
  phase: string;
}

interface StepLine {
  step: number;
  operation: string;
  path: string;
}

function stepLines(stderr: string): StepLine[] {
  return stderr
    .split('\n')
    .filter((line) => line.includes('"event":"test.step"'))
    .map((line) => JSON.parse(line) as StepLine);
}

/** What a step acts on, relative to the store, without the names that differ between runs. */
export function stepKind(operation: string, path: string, storeRoot: string): string {
  let relative = path === storeRoot ? '.' : path.startsWith(`${storeRoot}/`) ? path.slice(storeRoot.length + 1) : path;
  relative = relative.replace(/[0-9a-f]{64}/g, '<hex>').replace(/\.tmp-[0-9]+-[0-9a-f]{8}$/, '.tmp-<pid>');
  relative = relative.replace(/^staging\/<hex>\/.+$/, (whole) => (whole.endsWith('/') ? 'staging/<hex>/<dir>/' : 'staging/<hex>/<file>'));
  return `${operation} ${relative}`;
}

/** The steps that move the store from one stage of the protocol to the next. */
const LANDMARKS = new Set(['rename state.json', 'rename images/<hex>', 'rename previous', 'rename current']);

function withPhases(lines: StepLine[], storeRoot: string): CommitStep[] {
  const landmarks = new Map<string, number>();
  let stage = 'start';
  return lines.map(({ step, operation, path }) => {
    const kind = stepKind(operation, path, storeRoot);
    const phase = `${kind} (after ${stage})`;
    if (LANDMARKS.has(kind)) {
      landmarks.set(kind, (landmarks.get(kind) ?? 0) + 1);
      stage = `${kind} #${landmarks.get(kind)}`;
    }
    return { number: step, operation, kind, phase };
  });
}

/** Runs the command to its end with steps listed; it must succeed. */
export async function listCommitSteps(command: string, args: string[], storeRoot: string, env: NodeJS.ProcessEnv = process.env): Promise<CommitStep[]> {
  const child = spawn(command, args, { env: { ...env, [TEST_STEPS]: 'list' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`);
  const lines = stepLines(stderr);
  lines.forEach((line, index) => {
    if (line.step !== index + 1) throw new Error(`step ${index + 1} was not listed`);
  });
  return withPhases(lines, await realpath(storeRoot));
}

/**
 * One step of each phase, at random among the phase's steps: every protocol step gets an
 * interruption, however many files a layer has.
 */
export function oneStepPerPhase(steps: CommitStep[]): CommitStep[] {
  const byPhase = new Map<string, CommitStep[]>();
  for (const step of steps) byPhase.set(step.phase, [...(byPhase.get(step.phase) ?? []), step]);
  return [...byPhase.values()].map((members) => members[Math.floor(Math.random() * members.length)]);
}

/** `count` steps spread evenly over all of them, in order; past one each, round again. */
export function spreadSteps(steps: CommitStep[], count: number): CommitStep[] {
  return Array.from({ length: count }, (_, i) => steps[Math.floor((i * steps.length) / Math.min(count, steps.length)) % steps.length]);
}

/** The number of the only step of `kind`, for expectations about the protocol's order. */
export function stepNumber(steps: CommitStep[], kind: string): number {
  const found = steps.filter((step) => step.kind === kind);
  if (found.length !== 1) throw new Error(`expected one step ${kind}, found ${found.length}`);
  return found[0].number;
}

function processState(stat: string): string {
  return stat.slice(stat.lastIndexOf(')') + 2)[0];
}

export interface AimedInterruption {
  /** The step the process stopped at, as it reported it. */
  reached: StepLine | undefined;
  /** The signal the process ended with (after `stopped`, for a STOP). */
  signal: NodeJS.Signals | null;
  code: number | null;
}

/**
 * Runs the command and stops it just before step `number`: with KILL it dies there; with
 * STOP it is stopped there, `stopped` runs, and it is then killed. Resolves after its exit.
 */
export async function runToStep(
  command: string,
  args: string[],
  options: SpawnOptions,
  number: number,
  signal: 'KILL' | 'STOP',
  stopped: (pid: number) => Promise<void> = async () => undefined,
): Promise<AimedInterruption> {
  const child = spawn(command, args, { ...options, env: { ...(options.env ?? process.env), [TEST_STEPS]: `${number}:${signal}` }, stdio: ['ignore', 'ignore', 'pipe'] });
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  let stderr = '';
  let reached: StepLine | undefined;
  const announced = new Promise<void>((resolve) => {
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      reached ??= stepLines(stderr).find((line) => line.step === number);
      if (reached) resolve();
    });
    void closed.then(() => resolve());
  });
  if (signal === 'STOP') {
    await announced;
    // the applier is the last process of the `env` command line
    const pid = child.pid as number;
    while (child.exitCode === null && child.signalCode === null) {
      const state = processState(await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ') X'));
      if (state === 'T' || state === 'X' || state === 'Z') break;
      await sleep(2);
    }
    if (child.exitCode === null && child.signalCode === null) {
      await stopped(pid);
      child.kill('SIGKILL');
    }
  }
  const [code, endSignal] = await closed;
  reached ??= stepLines(stderr).find((line) => line.step === number);
  return { reached, signal: endSignal, code };
}
