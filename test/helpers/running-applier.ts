import { spawn } from 'node:child_process';
import { bareApplierCommand } from './applier-bundle.js';
import { REPO_ROOT, type ProcessResult } from './run.js';

export interface RunningProcess {
  pid: number;
  /** Resolves once stdout (for the applier: the container's output) contains `text`. */
  printed(text: string): Promise<void>;
  /** Resolves once stderr (for the applier: its JSON log) contains `text`. */
  logged(text: string): Promise<void>;
  done: Promise<ProcessResult>;
}

/** Starts the bundled applier as a device would: `node dist/applier.js <args>` (build it first with ensureApplierBundle). */
export function startApplier(args: string[], env: NodeJS.ProcessEnv = process.env): RunningProcess {
  return startProcess(...bareApplierCommand(args), env);
}

/** Starts a program whose output a test waits on while it runs. */
export function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): RunningProcess {
  const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  const waiters: { stream: keyof typeof output; text: string; resolve: () => void }[] = [];
  const collect = (stream: keyof typeof output) => (chunk: string) => {
    output[stream] += chunk;
    for (const waiter of waiters) if (waiter.stream === stream && output[stream].includes(waiter.text)) waiter.resolve();
  };
  child.stdout.setEncoding('utf8').on('data', collect('stdout'));
  child.stderr.setEncoding('utf8').on('data', collect('stderr'));
  const done = new Promise<ProcessResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, ...output }));
  });
  const waitFor = (stream: keyof typeof output) => (text: string) =>
    Promise.race([
      new Promise<void>((resolve) => (output[stream].includes(text) ? resolve() : waiters.push({ stream, text, resolve }))),
      done.then((result) => {
        throw new Error(`${command} exited ${result.code} before ${stream} showed ${text}: ${result.stderr}`);
      }),
    ]);
  return { pid: child.pid!, printed: waitFor('stdout'), logged: waitFor('stderr'), done };
}
