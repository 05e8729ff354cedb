import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const ALL_PAIRS = ['app-js', 'app-ts', 'go-binary-patch', 'os-base', 'native-large', 'node18-runtime'] as const;

/** The bench data directory: `pairs/<pair>/{old,new}.tar` are read, everything else is written under `work/`. */
export const benchData = process.env.PRTIQL_BENCH_DATA ?? join(homedir(), '.cache/prtiql-bench-data');

export function selectedPairs(): string[] {
  return process.env.PAIRS ? process.env.PAIRS.split(/\s+/).filter(Boolean) : [...ALL_PAIRS];
}

export const pairDir = (pair: string) => join(benchData, 'pairs', pair);

/**
 * Builds the missing pairs with ../shared/bench/corpus.sh. A `pairs` directory that is a
 * symlink is someone else's corpus, shared read-only: a missing pair there is an error.
 */
export function ensureCorpus(repo: string, pairs: string[]): void {
  const missing = pairs.filter((pair) => !existsSync(join(pairDir(pair), 'new.tar')) || !existsSync(join(pairDir(pair), 'old.tar')));
  if (missing.length === 0) return;
  const pairsDir = join(benchData, 'pairs');
  if (existsSync(pairsDir) && lstatSync(pairsDir).isSymbolicLink()) {
    throw new Error(`${missing.join(' ')} missing from ${pairsDir}, a shared corpus this bench does not write into`);
  }
  const corpusScript = resolve(repo, '../shared/bench/corpus.sh');
  if (!existsSync(corpusScript)) throw new Error(`the corpus is missing and ${corpusScript} is not there to build it`);
  console.error(`building the corpus for ${missing.join(' ')} in ${benchData} (a few minutes)`);
  const result = spawnSync('bash', [corpusScript, benchData], { stdio: 'inherit', env: { ...process.env, ONLY: missing.join(' ') } });
  if (result.status !== 0) throw new Error('corpus build failed');
}
