import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

function cpuModel(): string {
  const fromProc = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
  return (fromProc ?? cpus()[0]?.model ?? 'unknown CPU').trim();
}

/** CPU model, cores, RAM and Node version of the machine the bench runs on, and its load now. */
export function describeMachine(): string {
  const load = loadavg().map((average) => average.toFixed(1)).join(' ');
  return `${cpuModel()}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}; load average ${load} when the report was written`;
}
