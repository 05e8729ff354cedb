import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { readCapped } from '../../../shared/capped-read.js';
import type { DeltaOp } from '../../../shared/delta/format.js';
import { encodeDelta } from '../../../shared/delta/writer.js';
import { digestHex, sha256Digest } from '../../../shared/digest.js';
import { bareApplierCommand, ensureApplierBundle, runApplier } from '../../helpers/applier-bundle.js';
import { runProcess } from '../../helpers/run.js';
import { newSigner, publishDelta, publishTestRelease, trustRootJson, type FixtureEntry } from '../../helpers/signed-artifact-store.js';

/**
 * The delta path of `applier update` within the device's 64 MiB, on the access pattern that
 * costs the decoder most memory: copies of short ranges from scattered offsets of a large basis
 * file, so that nearly every read leaves the basis reader's cached blocks.
 */
const BASIS_BYTES = 32 * 1024 * 1024;
const COPIES = 20_000;
const COPY_BYTES = 256;
const PEAK_RSS_LIMIT_KB = 64 * 1024;
const GNU_TIME = '/usr/bin/time';

/** Deterministic incompressible bytes (xorshift32), so the basis is a real file on disk and in the gzip layer. */
function noise(length: number, seed: number): Buffer {
  const words = new Uint32Array(Math.ceil(length / 4));
  let state = seed;
  for (let i = 0; i < words.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    words[i] = state >>> 0;
  }
  return Buffer.from(words.buffer, 0, length);
}

const gnuTime = await access(GNU_TIME).then(
  () => undefined,
  () => `${GNU_TIME} (GNU time, Debian package time) is needed to measure peak RSS`,
);

t.test(`a delta of ${COPIES} scattered copies from a ${BASIS_BYTES >> 20} MiB basis is applied in at most 64 MiB of peak RSS`, { skip: gnuTime }, async (t) => {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const store = join(dir, 'store');
  const trust = join(dir, 'root.json');
  const signer = newSigner();
  await writeFile(trust, trustRootJson([signer]));
  const update = ['update', '--source', pathToFileURL(artifacts).href, '--channel', 'stable', '--store', store, '--trust', trust];

  const basis = noise(BASIS_BYTES, 0x9e3779b9);
  const randomWords = noise(COPIES * 4, 7);
  const offsets = Array.from({ length: COPIES }, (_, i) => randomWords.readUInt32LE(i * 4) % (BASIS_BYTES - COPY_BYTES));
  const assembled = Buffer.concat(offsets.map((offset) => basis.subarray(offset, offset + COPY_BYTES)));
  const layer = (path: string, content: Buffer): FixtureEntry[] => [
    { path: 'data', type: 'directory', mode: 0o755 },
    { path, type: 'file', mode: 0o644, content },
  ];

  const v1 = await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 1, layers: [layer('data/basis.bin', basis)], signers: [signer] });
  await ensureApplierBundle();
  t.equal((await runApplier(update)).code, 0, 'version 1 is installed in full');

  const v2 = await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 2, layers: [layer('data/assembled.bin', assembled)], signers: [signer] });
  const target = v2.layerTars[0];
  const contentStart = target.indexOf(assembled.subarray(0, 4096));
  const oldTar = v1.layerTars[0];
  const basisStart = oldTar.indexOf(basis.subarray(0, 4096));
  const ops: DeltaOp[] = [
    { type: 'literal', bytes: target.subarray(0, contentStart) },
    ...offsets.map((offset): DeltaOp => ({ type: 'copy', basis: 0, offset: basisStart + offset, length: COPY_BYTES })),
    { type: 'literal', bytes: target.subarray(contentStart + assembled.length) },
  ];
  const header = {
    target: { diffID: sha256Digest(target), size: target.length },
    bases: [{ kind: 'tar' as const, layer: v1.release.layers[0].diffID, size: oldTar.length }],
  };
  const blob = await readCapped(encodeDelta(header, ops), 1 << 26, 'delta');
  await publishDelta(artifacts, v2, { base: v1.manifestDigest, layer: 0, basisLayers: [v1.release.layers[0].diffID], blob }, [signer]);

  const [command, args] = bareApplierCommand(update);
  const result = await runProcess(GNU_TIME, ['-f', 'peak-rss-kb=%M', command, ...args]);
  t.equal(result.code, 0, 'the update succeeds', { stderr: result.stderr.slice(-2000) });
  t.match(result.stderr, /"event":"layer\.installed"[^\n]*"via":"delta"/, 'the layer was rebuilt from the delta');
  t.ok((await readFile(join(store, 'layers', digestHex(v2.release.layers[0].diffID), 'data/assembled.bin'))).equals(assembled), 'the rebuilt file is right');
  const peakKb = Number(/peak-rss-kb=([0-9]+)/.exec(result.stderr)?.[1]);
  t.comment(`delta ${blob.length} bytes, ${COPIES} copies: peak RSS ${(peakKb / 1024).toFixed(1)} MiB`);
  t.ok(peakKb <= PEAK_RSS_LIMIT_KB, `peak RSS ${peakKb} KB is within ${PEAK_RSS_LIMIT_KB} KB`);
});
