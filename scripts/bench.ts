// npm run bench: real release pairs through `prtiql delta` and the device applier, beside
// the whole-tar tools a team would otherwise use. Writes docs/BENCHMARKS.md.
//   PRTIQL_BENCH_DATA  corpus cache (default ~/.cache/prtiql-bench-data), built by
//                      ../shared/bench/corpus.sh when missing
//   PAIRS              space-separated subset, e.g. PAIRS="app-js go-binary-patch"
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, homedir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { measure, type Measured } from './bench/measure.js';
import { baselineSizes, BASELINE_TOOLS } from './bench/baselines.js';

const repo = resolve(import.meta.dirname, '..');
const data = process.env.PRTIQL_BENCH_DATA ?? join(homedir(), '.cache/prtiql-bench-data');
const corpusScript = resolve(repo, '../shared/bench/corpus.sh');
const allPairs = ['app-js', 'app-ts', 'go-binary-patch', 'os-base'];
const pairs = process.env.PAIRS ? process.env.PAIRS.split(/\s+/).filter(Boolean) : allPairs;
const prtiql = [process.execPath, join(repo, 'cli/bin/run.js')];
const applier = [process.execPath, join(repo, 'dist/applier.js')];

interface Row {
  pair: string;
  newTar: number;
  gzipLayer: number;
  delta: number;
  deltaBuild: Measured;
  apply: Measured;
  appliedVia: string;
  baselines: Record<string, number>;
}

function run(argv: string[], options: { cwd?: string } = {}): string {
  return execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...options });
}

function ensureCorpus(): void {
  const missing = pairs.filter((pair) => !existsSync(join(data, 'pairs', pair, 'new.tar')));
  if (missing.length === 0) return;
  if (!existsSync(corpusScript)) throw new Error(`the corpus is missing and ${corpusScript} is not there to build it`);
  console.error(`building the corpus for ${missing.join(' ')} in ${data} (a few minutes)`);
  const result = spawnSync('bash', [corpusScript, data], { stdio: 'inherit', env: { ...process.env, ONLY: missing.join(' ') } });
  if (result.status !== 0) throw new Error('corpus build failed');
}

async function gunzipTo(blob: string, out: string): Promise<void> {
  await pipeline(createReadStream(blob), createGunzip(), createWriteStream(out));
}

async function benchPair(pair: string): Promise<Row> {
  const source = join(data, 'pairs', pair);
  const work = join(data, 'work', pair);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const images = join(work, 'images');
  const store = join(work, 'store');
  const storeUrl = `file://${store}`;
  run([...prtiql, 'keys', 'generate', join(work, 'keys')]);
  const key = join(work, 'keys/release-key.pem');

  for (const side of ['old', 'new']) {
    await writeFile(join(work, `${side}.json`), JSON.stringify({ layers: [{ tar: join(source, `${side}.tar`) }], entrypoint: ['/bin/sh'] }));
    run([...prtiql, 'build', '--file', join(work, `${side}.json`), '--output', `oci:${images}:${side}`, '--quiet']);
  }
  const released = JSON.parse(run([...prtiql, 'release', '--image', `oci:${images}:old`, '--channel', 'bench', '--version', '1', '--key', key, '--to', storeUrl, '--json']));
  const device = join(work, 'device');
  const update = [...applier, 'update', '--source', storeUrl, '--channel', 'bench', '--store', device, '--trust', join(work, 'keys/root.json')];
  run(update);

  const deltaBuild = measure([...prtiql, 'delta', '--from', `oci:${images}:old`, '--to', `oci:${images}:new`, '--out', storeUrl, '--json']);
  const target = JSON.parse(
    run([...prtiql, 'release', '--image', `oci:${images}:new`, '--channel', 'bench', '--version', '2', '--key', key, '--to', storeUrl, '--base', `oci:${images}:old`, '--json']),
  );
  const deltaSize = (target.deltas as { size: number }[]).reduce((sum, d) => sum + d.size, 0);
  const newLayer = target.layers[0];

  const apply = measure(update);
  const status = JSON.parse(run([...applier, 'status', '--store', device, '--json']));
  if (status.installed?.version !== 2) throw new Error(`${pair}: the device did not reach version 2`);
  const appliedVia = /"via":"delta"/.test(apply.stderr) ? 'delta' : 'full';

  const oldTar = join(work, 'old-layer.tar');
  const newTar = join(work, 'new-layer.tar');
  await gunzipTo(join(store, 'blobs/sha256', released.layers[0].digest.slice(7)), oldTar);
  await gunzipTo(join(store, 'blobs/sha256', newLayer.digest.slice(7)), newTar);
  const baselines = await baselineSizes(data, oldTar, newTar);
  await rm(device, { recursive: true, force: true });
  return { pair, newTar: newLayer.uncompressedSize, gzipLayer: newLayer.size, delta: deltaSize, deltaBuild, apply, appliedVia, baselines };
}

const kb = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : `${(n / 1e3).toFixed(1)} KB`);
const mib = (k: number) => `${(k / 1024).toFixed(0)} MiB`;

function table(rows: Row[]): string {
  const head = ['pair', 'new tar', 'gzip layer', 'our delta', 'gzip / delta', 'delta build', 'build peak RSS', 'apply', 'apply peak RSS', ...BASELINE_TOOLS.map((t) => t.label)];
  const lines = rows.map((r) => [
    r.pair,
    kb(r.newTar),
    kb(r.gzipLayer),
    kb(r.delta) + (r.appliedVia === 'delta' ? '' : ' (device fell back to the full layer)'),
    `${(r.gzipLayer / r.delta).toFixed(1)}x`,
    `${r.deltaBuild.seconds.toFixed(1)} s`,
    mib(r.deltaBuild.maxRssKiB),
    `${r.apply.seconds.toFixed(1)} s`,
    mib(r.apply.maxRssKiB),
    ...BASELINE_TOOLS.map((t) => kb(r.baselines[t.key])),
  ]);
  return [head, head.map(() => '---'), ...lines].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

execFileSync('npm', ['run', 'build', '--silent'], { cwd: repo, stdio: 'inherit' });
ensureCorpus();
const rows: Row[] = [];
for (const pair of pairs) {
  console.error(`bench: ${pair}`);
  rows.push(await benchPair(pair));
  console.error(table(rows.slice(-1)));
}
const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}`;
const report = `# Benchmarks

Measured ${new Date().toISOString().slice(0, 10)} on ${machine}, with \`npm run bench\`${process.env.PAIRS ? ` (PAIRS="${process.env.PAIRS}")` : ''}.

Data: ../shared/bench/corpus.sh (real npm and Debian releases; versions in each pair's meta.txt).
Each pair's old and new tar becomes a one-layer image (\`prtiql build\`); v1 is released in
full, \`prtiql delta\` computes the delta to v2 (build time and peak RSS of that process),
\`prtiql release --base\` publishes it, and the applier updates a device store from v1 to v2
(apply time and peak RSS of \`node dist/applier.js update\`, which fetches, verifies, decodes,
extracts and commits durably). The baseline tools run on the same uncompressed layer tars:
${BASELINE_TOOLS.map((t) => `\`${t.command}\``).join(', ')}.

${table(rows)}
`;
await writeFile(join(repo, 'docs/BENCHMARKS.md'), report);
console.log(report);
