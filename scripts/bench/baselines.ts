import { createHash } from 'node:crypto';
import { createReadStream, existsSync, rmSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { measure, type Measured } from './measure.js';

export const BASELINE_TOOLS = [
  { key: 'bsdiff', label: 'bsdiff', command: 'bsdiff old.tar new.tar out', argv: (o: string, n: string, out: string) => ['bsdiff', o, n, out] },
  {
    key: 'xdelta3',
    label: 'xdelta3 -9 -S djw',
    command: 'xdelta3 -9 -S djw -e -s old.tar new.tar out',
    argv: (o: string, n: string, out: string) => ['xdelta3', '-9', '-S', 'djw', '-e', '-f', '-s', o, n, out],
  },
  {
    key: 'zstd',
    label: 'zstd -19 --long=31 --patch-from',
    command: 'zstd -19 --long=31 --patch-from=old.tar new.tar',
    argv: (o: string, n: string, out: string) => ['zstd', '-q', '-f', '-19', '--long=31', `--patch-from=${o}`, n, '-o', out],
  },
] as const;

export type BaselineKey = (typeof BASELINE_TOOLS)[number]['key'];

export interface BaselineResult extends Omit<Measured, 'stderr'> {
  bytes: number;
}

export type Baselines = Record<BaselineKey, BaselineResult>;

/** Runs each tool on the same two tars: delta size, wall time, peak RSS. */
export function runBaselines(oldTar: string, newTar: string): Baselines {
  const results = {} as Baselines;
  for (const tool of BASELINE_TOOLS) {
    const out = `${newTar}.${tool.key}`;
    const { seconds, maxRssKiB } = measure(tool.argv(oldTar, newTar, out));
    results[tool.key] = { bytes: statSync(out).size, seconds, maxRssKiB };
    rmSync(out);
  }
  return results;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

/**
 * Developer shortcut (PRTIQL_BENCH_REUSE_BASELINES=1): baseline figures of an earlier run on
 * the same tars, kept in the bench data directory. The report says so when it is used.
 */
export async function cachedBaselines(cacheDir: string, oldTar: string, newTar: string): Promise<Baselines> {
  const cacheFile = join(cacheDir, 'baselines-cache.json');
  const cache: Record<string, Baselines> = existsSync(cacheFile) ? JSON.parse(await readFile(cacheFile, 'utf8')) : {};
  const key = `${await sha256File(oldTar)}:${await sha256File(newTar)}`;
  cache[key] ??= runBaselines(oldTar, newTar);
  await writeFile(cacheFile, JSON.stringify(cache, null, 2));
  return cache[key];
}
