import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { plainNodeCommand, REPO_ROOT, runProcess, runTool, type ProcessResult } from './run.js';

export const APPLIER_BUNDLE = join(REPO_ROOT, 'dist', 'applier.js');

async function newestSourceMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
  }
  return newest;
}

let ready: Promise<void> | undefined;

/** Rebuilds dist/applier.js with the bundle script when applier/ or shared/ changed since. */
export function ensureApplierBundle(): Promise<void> {
  ready ??= (async () => {
    const built = await stat(APPLIER_BUNDLE).then((info) => info.mtimeMs, () => 0);
    const sources = Math.max(
      await newestSourceMtime(join(REPO_ROOT, 'applier')),
      await newestSourceMtime(join(REPO_ROOT, 'shared')),
      (await stat(join(REPO_ROOT, 'scripts', 'bundle-applier.mjs'))).mtimeMs,
    );
    if (built < sources) await runTool(process.execPath, [join(REPO_ROOT, 'scripts', 'bundle-applier.mjs')]);
  })();
  return ready;
}

/** Runs the bundled applier as a device would: `node dist/applier.js <args>`. */
export async function runApplier(args: readonly string[]): Promise<ProcessResult> {
  await ensureApplierBundle();
  return runProcess(...bareApplierCommand(args));
}

/** The command line that runs the bundled applier as on a device, without the test runner's instrumentation. */
export function bareApplierCommand(args: readonly string[]): [string, string[]] {
  return plainNodeCommand([APPLIER_BUNDLE, ...args]);
}
