import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFile } from 'node:fs/promises';
import { APPLIER_EXIT_CODES, CONTAINER_COMMAND_EXIT_CODES } from '../../shared/errors.js';
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

/** Where a foreground `runc run` writes its own errors (`runc --log <file> --log-format json`), in the bundle. */
export const RUNC_LOG_FILE = 'runc.log';

/**
 * The exit status of a foreground `runc run --log <logFile>` as `applier run` reports it: the
 * container's own, unless runc logged that it failed itself (then it exits 1, as a container
 * may): 127 for a command it cannot find, 126 for one it cannot execute, 125 for anything else.
 * Returns runc's message too, when there is one.
 */
export async function containerExitStatus(runcStatus: number, logFile: string): Promise<{ status: number; runcError?: string }> {
  if (runcStatus === 0) return { status: 0 };
  const log = await readFile(logFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  const runcError = runcFailure(log);
  if (runcError === undefined) return { status: runcStatus };
  return { status: runcFailureStatus(runcError), runcError };
}

/** The message of runc's own failure in its JSON log, if it failed. */
function runcFailure(log: string): string | undefined {
  for (const line of log.split('\n')) {
    if (line === '') continue;
    let entry: { level?: unknown; msg?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    if (entry.level === 'error' && typeof entry.msg === 'string') return entry.msg;
  }
  return undefined;
}

function runcFailureStatus(message: string): number {
  const exec = /: exec: (.*)$/.exec(message)?.[1];
  if (exec === undefined) return APPLIER_EXIT_CODES.E_RUNTIME;
  return /no such file or directory|executable file not found/.test(exec) ? CONTAINER_COMMAND_EXIT_CODES.notFound : CONTAINER_COMMAND_EXIT_CODES.notExecutable;
}
