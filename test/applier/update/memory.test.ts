import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { serveDirectory } from '../../../scripts/lib/static-server.js';
import { bareApplierCommand, ensureApplierBundle } from '../../helpers/applier-bundle.js';
import { runProcess, type ProcessResult } from '../../helpers/run.js';
import { newSigner, publishTestRelease, trustRootJson, type FixtureEntry } from '../../helpers/signed-artifact-store.js';
import { missingPath, skipUnlessAvailable } from '../../helpers/required-features.js';

/** DESIGN §7 and the hardening brief: a 300 MB layer applied in at most 64 MiB of peak RSS. */
const LAYER_MB = Number(process.env.PRTIQL_MEMORY_LAYER_MB ?? 300);
/**
 * The 64 MiB budget, less what an empty Node 20 process peaks at (40 MiB, mostly its own code
 * pages): the applier's share. Measured above an empty process of the same Node binary, it
 * does not move with the Node version's own baseline.
 */
const APPLIER_RSS_BUDGET_KB = (64 - 40) * 1024;
const GNU_TIME = '/usr/bin/time';

/** One MiB of text-like bytes (words from a random vocabulary) that gzip halves, as it does real layers. */
function textMiB(seed: number): Buffer {
  let block = createHash('sha256').update(`text-${seed}`).digest();
  let used = 0;
  const random = () => {
    if (used === block.length) {
      block = createHash('sha256').update(block).digest();
      used = 0;
    }
    used += 2;
    return block.readUInt16BE(used - 2);
  };
  const words = Array.from({ length: 4096 }, () => random().toString(36).slice(0, 2 + (random() % 7)));
  const out = Buffer.alloc(1024 * 1024);
  for (let offset = 0; offset < out.length; ) offset += out.write(`${words[random() % words.length]} `, offset, 'latin1');
  return out;
}

const gnuTime = skipUnlessAvailable(await missingPath(GNU_TIME, `${GNU_TIME} (GNU time, Debian package time) is needed to measure peak RSS`));

/** Runs the command under GNU time: its result, peak RSS and wall time. */
async function measured(command: string, args: string[]): Promise<{ result: ProcessResult; peakKb: number; seconds: number }> {
  const result = await runProcess(GNU_TIME, ['-f', 'peak-rss-kb=%M elapsed-s=%e', command, ...args]);
  const figures = /peak-rss-kb=([0-9]+) elapsed-s=([0-9.]+)/.exec(result.stderr);
  if (!figures) throw new Error(`GNU time reported no peak: ${result.stderr.slice(-500)}`);
  return { result, peakKb: Number(figures[1]), seconds: Number(figures[2]) };
}

t.test(`a ${LAYER_MB} MB layer over HTTP is applied in at most 24 MiB of peak RSS above an empty Node process (64 MiB with Node 20)`, { skip: gnuTime }, async (t) => {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const signer = newSigner();
  const trust = join(dir, 'root.json');
  await writeFile(trust, trustRootJson([signer]));
  const contents = Array.from({ length: 8 }, (_, i) => textMiB(i));
  const layer: FixtureEntry[] = [
    { path: 'data', type: 'directory', mode: 0o755 },
    ...Array.from({ length: LAYER_MB }, (_, i): FixtureEntry => ({ path: `data/file-${i}`, type: 'file', mode: 0o644, content: contents[i % contents.length] })),
  ];
  const published = await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 1, layers: [layer], signers: [signer] });
  const server = await serveDirectory(artifacts);
  t.teardown(() => server.close());
  await ensureApplierBundle();

  const store = join(dir, 'store');
  const [command, args] = bareApplierCommand(['update', '--source', server.url, '--channel', 'stable', '--store', store, '--trust', trust]);
  const update = await measured(command, args);
  t.equal(update.result.code, 0, 'the update succeeds', { stderr: update.result.stderr.slice(-2000) });
  t.match(update.result.stdout, /updated to version 1 .*1 layer\(s\) installed/);
  const emptyNode = await measured('env', ['-u', 'NODE_OPTIONS', process.execPath, '-e', '']);
  t.equal(emptyNode.result.code, 0, 'an empty Node process, for the baseline');
  const blobMb = (published.release.layers[0].blob.size / 1e6).toFixed(1);
  const mib = (kb: number) => `${(kb / 1024).toFixed(1)} MiB`;
  t.comment(`layer ${(published.release.layers[0].size / 1e6).toFixed(1)} MB (blob ${blobMb} MB): peak RSS ${mib(update.peakKb)}, an empty Node ${process.version} ${mib(emptyNode.peakKb)}, ${update.seconds} s`);
  const aboveNode = update.peakKb - emptyNode.peakKb;
  t.ok(aboveNode <= APPLIER_RSS_BUDGET_KB, `peak RSS ${update.peakKb} KB, ${aboveNode} KB above an empty Node, is within the ${APPLIER_RSS_BUDGET_KB} KB budget`);
});
