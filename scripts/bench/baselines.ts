import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const BASELINE_TOOLS = [
  { key: 'bsdiff', label: 'bsdiff', command: 'bsdiff old.tar new.tar out', argv: (o: string, n: string, out: string) => ['bsdiff', o, n, out] },
  { key: 'xdelta3', label: 'xdelta3 -9 -S djw', command: 'xdelta3 -9 -S djw -e -s old.tar new.tar out', argv: (o: string, n: string, out: string) => ['xdelta3', '-9', '-S', 'djw', '-e', '-f', '-s', o, n, out] },
  { key: 'zstd', label: 'zstd -19 --long=31 --patch-from', command: 'zstd -19 --long=31 --patch-from=old.tar new.tar', argv: (o: string, n: string, out: string) => ['zstd', '-q', '-f', '-19', '--long=31', `--patch-from=${o}`, n, '-o', out] },
] as const;

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

/** Sizes of the baseline tools' deltas, cached by the tars' contents (bsdiff takes minutes on big tars). */
export async function baselineSizes(cacheDir: string, oldTar: string, newTar: string): Promise<Record<string, number>> {
  const cacheFile = join(cacheDir, 'baselines.json');
  const cache: Record<string, Record<string, number>> = existsSync(cacheFile) ? JSON.parse(await readFile(cacheFile, 'utf8')) : {};
  const key = `${await sha256File(oldTar)}:${await sha256File(newTar)}`;
  if (!cache[key]) {
    const sizes: Record<string, number> = {};
    for (const tool of BASELINE_TOOLS) {
      const out = `${newTar}.${tool.key}`;
      const [command, ...args] = tool.argv(oldTar, newTar, out);
      execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      sizes[tool.key] = statSync(out).size;
      await rm(out);
    }
    cache[key] = sizes;
    await writeFile(cacheFile, JSON.stringify(cache, null, 2));
  }
  return cache[key];
}
