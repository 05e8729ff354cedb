import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion and collects its output; never throws on a non-zero exit. */
export function runProcess(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? REPO_ROOT, env: options.env ?? process.env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    child.stdin?.end(options.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * The command line that runs `node <args>` without the test runner's instrumentation: the
 * runner adds it to the NODE_OPTIONS of every child it sees spawned (it costs each applier
 * start about 0.3 s of CPU and each CLI start 0.8 s), and `env -u` drops it. `env` by its
 * full path: tests run programs with a PATH that finds nothing.
 */
export function plainNodeCommand(args: readonly string[]): [string, string[]] {
  return ['/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, ...args]];
}

const CLI_ENTRY = fileURLToPath(new URL('../../cli/bin/run.js', import.meta.url));

/** Runs the built `prtiql` (dist/ must be current: `npm run build`, as `npm test` does first). */
export function runCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<ProcessResult> {
  return runProcess(...plainNodeCommand([CLI_ENTRY, ...args]), options);
}

/** Runs a tool that must succeed, returning its stdout; a failure fails the test with its stderr. */
export async function runTool(command: string, args: readonly string[]): Promise<string> {
  const result = await runProcess(command, args);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}
