import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import { runTool } from '../../filesystem/tool.js';

/** runc's container states; undefined when runc has no container of that name. */
export type RuncStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

const POLL_MS = 200;
/** How long a container may take to disappear after SIGKILL before `stop` gives up waiting. */
const KILL_WAIT_MS = 10_000;

export async function runcStatus(runc: string, name: string): Promise<RuncStatus | undefined> {
  const state = await runTool(runc, ['state', name]);
  if (state.status !== 0) return undefined;
  return (JSON.parse(state.stdout) as { status: RuncStatus }).status;
}

/** A container whose process may still run (or is about to): not stopped, not gone. */
export function isLive(status: RuncStatus | undefined): boolean {
  return status !== undefined && status !== 'stopped';
}

/** Polls runc until the container is no longer live; false if it still is after `timeoutMs`. */
export async function waitUntilStopped(runc: string, name: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isLive(await runcStatus(runc, name))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS, undefined, { signal });
  }
}

/**
 * Asks the container's process to stop with `signal`; after `timeoutMs` it is killed.
 * Returns once runc reports it stopped (or KILL_WAIT_MS after the kill).
 */
export async function stopContainerProcess(runc: string, name: string, signal: NodeJS.Signals, timeoutMs: number, log: Logger): Promise<void> {
  await runTool(runc, ['kill', name, signal]);
  if (await waitUntilStopped(runc, name, timeoutMs)) return;
  log.warn('container.stop-timeout', { name, seconds: timeoutMs / 1000 });
  await runTool(runc, ['kill', name, 'KILL']);
  await waitUntilStopped(runc, name, KILL_WAIT_MS);
}

/** Exit status of `runc exec` for a command that did not finish within its timeout. */
export const EXEC_TIMED_OUT = 124;

/**
 * Runs a command in the container (with its process settings: user, env, cwd) and returns
 * its exit status. At the timeout runc gets SIGTERM, which it forwards, then SIGKILL.
 */
export function execInContainer(runc: string, name: string, args: string[], timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(runc, ['exec', name, ...args], { stdio: 'ignore' });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 1000).unref();
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(timedOut ? EXEC_TIMED_OUT : (code ?? EXEC_TIMED_OUT));
    });
  });
}
