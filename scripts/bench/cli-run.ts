import { execFileSync } from 'node:child_process';

/** Runs a command to completion and returns its stdout; a failure throws with its stderr. */
export function run(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}
