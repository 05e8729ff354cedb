import { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { BLOCK_BYTES as BLOCK, CACHED_BLOCKS, MAX_OPEN_FILES, StoreBasisReader } from '../../../applier/update/delta/delta-basis.js';
import { DeviceStore } from '../../../applier/device-store/device-store.js';
import { installLayer } from '../../../applier/update/install-layer.js';
import { sha256Digest } from '../../../shared/digest.js';
import type { DeltaHeader } from '../../../shared/delta/format.js';
import type { ReleaseLayer } from '../../../shared/release.js';
import { layerTar, type FixtureEntry } from '../../helpers/signed-artifact-store.js';
import { deterministicBytes } from '../../helpers/deterministic-bytes.js';

/**
 * The device reads a delta's tar bases from its committed layers: the whole tar rebuilt from
 * the files in the layer directory and the skeleton in the `.meta`, through a cache of 64 KiB
 * blocks. Every read at every piece boundary (header, content, padding) and every block
 * boundary must return exactly the bytes of the original tar.
 */


/** More files than the reader keeps open, a tar of more blocks than it caches, files of several blocks. */
const ENTRIES: FixtureEntry[] = [
  { path: 'data', type: 'directory', mode: 0o755 },
  ...Array.from({ length: 300 }, (_, i): FixtureEntry => ({ path: `data/small-${i}`, type: 'file', mode: 0o644, content: deterministicBytes(`small-${i}`, (i * 37) % 1537) })),
  { path: 'data/link', type: 'symlink', mode: 0o777, linkname: 'small-1' },
  { path: 'data/medium', type: 'file', mode: 0o644, content: deterministicBytes('medium', 600 * 1024 + 3) },
  { path: 'data/large', type: 'file', mode: 0o644, content: deterministicBytes('large', 5 * BLOCK + 1) },
  { path: 'data/empty', type: 'file', mode: 0o644, content: '' },
];

interface TarLayout {
  /** Start and end of every regular file's content in the tar, with its path. */
  contents: { path: string; start: number; end: number }[];
  /** Every offset where the tar passes from one kind of bytes to another. */
  boundaries: number[];
}

/** Walks the tar's headers (ustar, no extensions in these fixtures): an oracle independent of the reader. */
function tarLayout(tar: Buffer): TarLayout {
  const contents: TarLayout['contents'] = [];
  const boundaries = new Set<number>([0, tar.length]);
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const name = header.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
    const prefix = header.subarray(345, 500).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    const start = offset + 512;
    boundaries.add(offset).add(start).add(start + size);
    if (header[156] === 0x30 || header[156] === 0) contents.push({ path: prefix ? `${prefix}/${name}` : name, start, end: start + size });
    offset = start + Math.ceil(size / 512) * 512;
    boundaries.add(offset);
  }
  return { contents, boundaries: [...boundaries].sort((a, b) => a - b) };
}

/** Offsets worth reading around: the given boundaries and every block boundary, each with its neighbours. */
function probes(boundaries: number[], size: number): number[] {
  const points = new Set<number>();
  for (let block = 0; block <= size; block += BLOCK) boundaries = [...boundaries, block];
  for (const point of boundaries) for (const near of [point - 1, point, point + 1]) if (near >= 0 && near < size) points.add(near);
  return [...points];
}

function shuffled<T>(values: T[]): T[] {
  const out = [...values];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Reads of 1 and 2 bytes at each probe, and of a block and a bit from a few of them, in random order (the cache evicts). */
async function expectReads(t: Test, reader: StoreBasisReader, index: number, expected: Buffer, boundaries: number[]): Promise<void> {
  const reads: [number, number][] = [];
  const points = probes(boundaries, expected.length);
  for (const point of points) for (const length of [1, 2]) if (point + length <= expected.length) reads.push([point, length]);
  for (const point of points.filter((_, i) => i % 97 === 0)) reads.push([point, Math.min(BLOCK + 513, expected.length - point)]);
  reads.push([0, expected.length]);
  let wrong = 0;
  let first = '';
  for (const [position, length] of shuffled(reads)) {
    const got = Buffer.from(await reader.read(index, position, length));
    if (!got.equals(expected.subarray(position, position + length))) {
      wrong++;
      first ||= `${length} bytes at ${position}`;
    }
  }
  t.equal(wrong, 0, `${reads.length} reads return the original bytes${first && `; first wrong: ${first}`}`);
}

t.test('a tar basis reads back exactly at every piece and block boundary', async (t) => {
  const tar = await layerTar(ENTRIES);
  const layout = tarLayout(tar);
  t.equal(layout.contents.length, 303, 'the oracle found every regular file');
  t.ok(tar.length > CACHED_BLOCKS * BLOCK, 'the tar is larger than the block cache');
  t.ok(layout.contents.length > MAX_OPEN_FILES, 'more files than the reader keeps open');

  const store = await DeviceStore.create(t.testdir());
  const diffID = sha256Digest(tar);
  await installLayer(store, { diffID, size: tar.length } as ReleaseLayer, Readable.from([tar]));
  const header = { target: { diffID, size: tar.length }, bases: [{ kind: 'tar', layer: diffID, size: tar.length }] } satisfies DeltaHeader;
  const reader = await StoreBasisReader.open(store, header);
  t.teardown(() => reader.close());
  await expectReads(t, reader, 0, tar, layout.boundaries);
});

t.test('a basis whose declared size does not match the layer is refused when opened', async (t) => {
  const tar = await layerTar(ENTRIES.slice(0, 10));
  const store = await DeviceStore.create(t.testdir());
  const diffID = sha256Digest(tar);
  await installLayer(store, { diffID, size: tar.length } as ReleaseLayer, Readable.from([tar]));
  const header = { target: { diffID, size: tar.length }, bases: [{ kind: 'tar', layer: diffID, size: tar.length + 1 }] } satisfies DeltaHeader;
  await t.rejects(StoreBasisReader.open(store, header), { code: 'E_NOT_FOUND', message: /tar has \d+ bytes, the delta expects/ });
});
