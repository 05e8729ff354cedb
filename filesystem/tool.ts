import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { PrtiqlError } from '../shared/errors.js';

/** Where each system tool the applier runs comes from, for error messages on a bare device. */
const DEBIAN_PACKAGES: Record<string, string> = {
  runc: 'runc',
  mount: 'mount',
  umount: 'mount',
  mknod: 'coreutils',
  setfattr: 'attr',
};

export function missingToolError(tool: string): PrtiqlError {
  const pkg = DEBIAN_PACKAGES[tool];
  return new PrtiqlError('E_RUNTIME', `${tool} is not installed${pkg ? ` (Debian package ${pkg})` : ''}`);
}

/** The absolute path of an executable found on PATH, or a typed error naming its package. */
export async function requireExecutable(tool: string): Promise<string> {
  for (const directory of (process.env.PATH ?? '').split(delimiter)) {
    if (directory === '') continue;
    const candidate = join(directory, tool);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw missingToolError(tool);
}

export interface ToolResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool to completion with its output captured; never throws for a non-zero status. */
export function runTool(tool: string, args: string[], options: { cwd?: string } = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => reject(error.code === 'ENOENT' ? missingToolError(tool) : error));
    child.on('close', (code, signal) =>
      resolve({
        status: code ?? 128,
        stdout: Buffer.concat(stdout).toString(),
        stderr: Buffer.concat(stderr).toString().trim() || (signal ? `killed by ${signal}` : ''),
      }),
    );
  });
}

/** Runs a tool that must succeed; a failure becomes E_RUNTIME with the tool's own words. */
export async function runToolOrFail(tool: string, args: string[], options: { cwd?: string } = {}): Promise<string> {
  const result = await runTool(tool, args, options);
  if (result.status !== 0) {
    const detail = result.stderr.split('\n')[0] || `exit status ${result.status}`;
    throw new PrtiqlError('E_RUNTIME', `${tool} failed: ${detail}`);
  }
  return result.stdout;
}
