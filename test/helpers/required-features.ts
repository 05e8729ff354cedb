import { access } from 'node:fs/promises';
import { runProcess } from './run.js';

/**
 * With PRTIQL_REQUIRE_ALL_FEATURES=1 (.ci/run sets it) a test that would skip because this
 * machine lacks a privilege or a tool fails instead, naming what is missing: a green run
 * then means every test ran.
 */
export const REQUIRE_ALL_FEATURES = 'PRTIQL_REQUIRE_ALL_FEATURES';

/**
 * The `skip` option of a test that needs something this machine may lack: `missing` says
 * what is missing (or is false/undefined when nothing is). Throws when all features are
 * required, which fails the test file with that reason.
 */
export function skipUnlessAvailable(missing: string | false | undefined): string | false {
  if (!missing) return false;
  if (process.env[REQUIRE_ALL_FEATURES] === '1') {
    throw new Error(`${REQUIRE_ALL_FEATURES}=1 and this machine lacks what a test needs: ${missing}`);
  }
  return missing;
}

export const isRoot = process.getuid?.() === 0;

/** Why tools that run containers with runc cannot run here, if they cannot. */
export const RUNC_NEEDS_ROOT = !isRoot && 'runs containers with runc, which needs root';

/** Why `command` cannot be run here (it exits non-zero or is not installed), if it cannot. */
export async function missingCommand(command: string, args: string[], why: string): Promise<string | undefined> {
  const result = await runProcess(command, args).catch(() => undefined);
  return result?.code === 0 ? undefined : why;
}

/** Why `path` cannot be used here, if it does not exist. */
export async function missingPath(path: string, why: string): Promise<string | undefined> {
  return (await access(path).then(() => true, () => false)) ? undefined : why;
}
