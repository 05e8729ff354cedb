import { spawnSync } from 'node:child_process';

export interface Measured {
  seconds: number;
  maxRssKiB: number;
  stderr: string;
}

const TIME_FORMAT = 'PRTIQL_TIME %e %M';

/**
 * Runs a command under GNU time: wall seconds and peak resident set size. For a shell
 * pipeline the peak is the largest of its processes, not their sum.
 */
export function measure(argv: string[]): Measured {
  const result = spawnSync('/usr/bin/time', ['-f', TIME_FORMAT, ...argv], { encoding: 'utf8', maxBuffer: 256 << 20 });
  const match = /PRTIQL_TIME (\S+) (\d+)\s*$/.exec(result.stderr);
  if (result.status !== 0 || !match) {
    throw new Error(`${argv.join(' ')} failed (exit ${result.status}):\n${result.stderr.slice(-2000)}`);
  }
  return { seconds: Number(match[1]), maxRssKiB: Number(match[2]), stderr: result.stderr };
}
