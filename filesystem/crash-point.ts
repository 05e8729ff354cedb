import { fstatSync, readlinkSync, writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

/**
 * TEST ONLY. The crash tests interrupt the applier at chosen steps of the store's commit
 * protocol (every fsync, syncfs, rename, symlink and deletion it makes durable or
 * visible). With `PRTIQL_TEST_STEPS=list` each step is written to stderr as it is reached;
 * with `PRTIQL_TEST_STEPS=<n>:<signal>` (signal KILL or STOP) the process sends itself that
 * signal just before its n-th step, after writing the step. Unset, nothing happens.
 */
export const TEST_STEPS = 'PRTIQL_TEST_STEPS';

export type StepOperation = 'fsync' | 'syncfs' | 'rename' | 'symlink' | 'remove';

type Mode = { list: true } | { list: false; at: number; signal: 'SIGKILL' | 'SIGSTOP' } | undefined;

function parseMode(value: string | undefined): Mode {
  if (value === undefined) return undefined;
  if (value === 'list') return { list: true };
  const match = /^([1-9][0-9]*):(KILL|STOP)$/.exec(value);
  if (!match) throw new Error(`${TEST_STEPS} must be "list" or "<n>:KILL" or "<n>:STOP", not ${JSON.stringify(value)}`);
  return { list: false, at: Number(match[1]), signal: `SIG${match[2] as 'KILL' | 'STOP'}` };
}

const mode = parseMode(process.env[TEST_STEPS]);
let reached = 0;

/** Where a descriptor's file is, and a trailing slash for a directory: only read in test mode. */
function describeDescriptor(fd: number): string {
  const path = readlinkSync(`/proc/self/fd/${fd}`);
  return fstatSync(fd).isDirectory() ? `${path}/` : path;
}

/** Marks the step the applier is about to take: `path` is what it acts on (a handle or descriptor is resolved only in test mode). */
export function commitStep(operation: StepOperation, path: string | FileHandle | number): void {
  if (mode === undefined) return;
  reached++;
  const interrupt = !mode.list && reached === mode.at;
  if (!mode.list && !interrupt) return;
  const where = typeof path === 'string' ? path : describeDescriptor(typeof path === 'number' ? path : path.fd);
  writeSync(2, `${JSON.stringify({ event: 'test.step', step: reached, operation, path: where })}\n`);
  if (interrupt) process.kill(process.pid, mode.signal);
}
