import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SAMPLER = 'while :; do grep -E "^(Dirty|Writeback):" /proc/meminfo; echo; sleep 0.1; done';

/**
 * Runs `work` (synchronous) while a shell samples Dirty and Writeback in /proc/meminfo every
 * 0.1 s, and returns the largest sum seen, in KiB: the page cache waiting to be written, for
 * the whole machine (so measure on an otherwise idle one).
 */
export function withWritePressure<T>(work: () => T): { result: T; peakDirtyKiB: number } {
  const dir = mkdtempSync(join(tmpdir(), 'prtiql-dirty-'));
  const samples = join(dir, 'meminfo');
  const fd = openSync(samples, 'w');
  const sampler = spawn('sh', ['-c', SAMPLER], { stdio: ['ignore', fd, 'ignore'] });
  try {
    return { result: work(), peakDirtyKiB: peakOf(readFileSync(samples, 'utf8')) };
  } finally {
    sampler.kill('SIGKILL');
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

function peakOf(text: string): number {
  let peak = 0;
  for (const sample of text.split('\n\n')) {
    const kib = [...sample.matchAll(/^(?:Dirty|Writeback):\s+(\d+) kB$/gm)].map((match) => Number(match[1]));
    if (kib.length === 2) peak = Math.max(peak, kib[0]! + kib[1]!);
  }
  return peak;
}
