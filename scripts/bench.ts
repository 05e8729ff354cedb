// npm run bench: every corpus pair through `prtiql delta` and the device applier, beside the
// whole-tar delta tools and `gzip -dc | tar -x`, all measured in this run. Rewrites
// docs/BENCHMARKS.md after each pair.
//   PRTIQL_BENCH_DATA   corpus and scratch directory (default ~/.cache/prtiql-bench-data);
//                       pairs/ is read, work/ is written; missing pairs are built by
//                       ../shared/bench/corpus.sh
//   PAIRS               space-separated subset, e.g. PAIRS="app-js go-binary-patch"
//   PRTIQL_BENCH_REUSE_BASELINES=1
//                       developers only: reuse the tools' figures of an earlier run on the
//                       same tars (the report says so)
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { cachedBaselines, runBaselines } from './bench/baselines.js';
import { benchData, ensureCorpus, pairDir, selectedPairs } from './bench/corpus.js';
import { DeviceBench } from './bench/device-install.js';
import { missedGoals } from './bench/goals.js';
import { describeMachine } from './bench/machine.js';
import { dropPageCache } from './bench/page-cache.js';
import type { PairResult } from './bench/pair-result.js';
import { PairPublisher } from './bench/publish.js';
import { benchmarkReport, goalTable, sizeTable } from './bench/report.js';
import { scratchExt4, type ScratchFileSystem } from './bench/scratch-ext4.js';

const repo = resolve(import.meta.dirname, '..');
const prtiql = [process.execPath, join(repo, 'cli/bin/run.js')];
const applier = [process.execPath, join(repo, 'dist/applier.js')];
const reuseBaselines = process.env.PRTIQL_BENCH_REUSE_BASELINES === '1';
const SCRATCH_BYTES = 4 * 2 ** 30;

async function gunzipTo(blob: string, out: string): Promise<void> {
  await pipeline(createReadStream(blob), createGunzip(), createWriteStream(out));
}

async function benchPair(pair: string, scratch: ScratchFileSystem): Promise<PairResult> {
  const work = join(benchData, 'work', pair);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const publisher = await PairPublisher.create(work, pairDir(pair), prtiql);
  const device = new DeviceBench(applier, publisher, scratch.dir);

  const oldLayer = publisher.releaseBase();
  device.installBase();
  const deltaBuild = publisher.buildDelta();
  const { layer: newLayer, deltaBytes } = publisher.releaseTarget();

  const oldTar = join(work, 'old-layer.tar');
  const newTar = join(work, 'new-layer.tar');
  await gunzipTo(publisher.blobPath(oldLayer), oldTar);
  await gunzipTo(publisher.blobPath(newLayer), newTar);
  const baselines = reuseBaselines ? await cachedBaselines(join(benchData, 'work'), oldTar, newTar) : runBaselines(oldTar, newTar);
  await rm(oldTar);
  await rm(newTar);

  const installs = device.measureInstalls(publisher.blobPath(newLayer));
  await rm(work, { recursive: true, force: true });
  return {
    pair,
    newTarBytes: newLayer.uncompressedSizeBytes,
    gzipLayerBytes: newLayer.sizeBytes,
    deltaBytes,
    deltaBuild: { seconds: deltaBuild.seconds, maxRssKiB: deltaBuild.maxRssKiB },
    baselines,
    installs,
  };
}

execFileSync('npm', ['run', 'build', '--silent'], { cwd: repo, stdio: 'inherit' });
const pairs = selectedPairs();
ensureCorpus(repo, pairs);
const cachesDropped = dropPageCache();
const scratch = scratchExt4(join(benchData, 'work'), SCRATCH_BYTES);
const results: PairResult[] = [];
const failed: { pair: string; error: string }[] = [];

async function writeReport(): Promise<void> {
  const report = benchmarkReport(results, {
    command: `${process.env.PAIRS ? `PAIRS="${process.env.PAIRS}" ` : ''}${reuseBaselines ? 'PRTIQL_BENCH_REUSE_BASELINES=1 ' : ''}npm run bench`,
    machine: describeMachine(),
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    storeDescription: scratch.description,
    cachesDropped,
    baselinesReused: reuseBaselines,
    pending: pairs.filter((pair) => !results.some((result) => result.pair === pair) && !failed.some((failure) => failure.pair === pair)),
    failed,
  });
  await writeFile(join(repo, 'docs/BENCHMARKS.md'), report);
}

try {
  for (const pair of pairs) {
    console.error(`bench: ${pair}`);
    try {
      const result = await benchPair(pair, scratch);
      results.push(result);
      console.error(sizeTable([result]));
      console.error(`missed: ${missedGoals(result).map((goal) => goal.label).join('; ') || 'none'}`);
    } catch (error) {
      console.error(`bench: ${pair} failed: ${(error as Error).stack}`);
      failed.push({ pair, error: (error as Error).message.split('\n')[0]! });
    }
    await writeReport();
  }
} finally {
  scratch.release();
}
console.error(goalTable(results));
if (failed.length > 0) process.exitCode = 1;
