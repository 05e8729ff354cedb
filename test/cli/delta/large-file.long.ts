import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import t from 'tap';
import { createDeltaPlanner, type DeltaLayer } from '../../../cli/src/lib/delta/planner.js';
import { decodeDelta, type BasisReader } from '../../../shared/delta/decoder.js';
import type { DeltaIdentity } from '../../../shared/delta/format.js';
import type { Digest } from '../../../shared/digest.js';
import { deterministicTar } from '../../../shared/tar/deterministic-writer.js';

/**
 * A 600 MiB disk image, sparse the way images are: 300 data regions of 256 KiB (pseudo-random,
 * so incompressible) every 2 MiB, zeros between. The new version moves every tenth region
 * three slots on (about 6 MiB) and changes 3,000 bytes scattered over the data.
 */
const FILE_BYTES = 600 * 1024 * 1024;
const SLOT_BYTES = 2 * 1024 * 1024;
const REGION_BYTES = 256 * 1024;
const SLOTS = FILE_BYTES / SLOT_BYTES;
const EDITS = 3000;
const CHUNK_BYTES = 1024 * 1024;

function xorshift(seed: number): () => number {
  let state = seed | 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
}

function regionData(region: number): Buffer {
  const next = xorshift(0x9e3779b9 ^ (region * 0x85ebca6b));
  const bytes = Buffer.alloc(REGION_BYTES);
  for (let i = 0; i < REGION_BYTES; i += 4) bytes.writeUInt32LE(next(), i);
  return bytes;
}

/** Which region's data a slot holds in the new version: slots 10k and 10k + 3 swap. */
function movedRegion(slot: number): number {
  if (slot % 10 === 0 && slot + 3 < SLOTS) return slot + 3;
  if (slot % 10 === 3) return slot - 3;
  return slot;
}

/** Edited positions of the new version, ascending. */
const edits = (() => {
  const next = xorshift(12345);
  const positions = new Set<number>();
  while (positions.size < EDITS) positions.add((next() % SLOTS) * SLOT_BYTES + (next() % REGION_BYTES));
  return [...positions].sort((a, b) => a - b);
})();

/** The image's bytes, in chunks: old, or new (moved regions, edited bytes). */
async function* image(version: 'old' | 'new'): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < FILE_BYTES; offset += CHUNK_BYTES) {
    const chunk = Buffer.alloc(CHUNK_BYTES);
    const slot = Math.floor(offset / SLOT_BYTES);
    if (offset % SLOT_BYTES === 0) regionData(version === 'old' ? slot : movedRegion(slot)).copy(chunk);
    if (version === 'new') {
      for (const position of edits) if (position >= offset && position < offset + CHUNK_BYTES) chunk[position - offset] = (chunk[position - offset]! + 0x5b) & 0xff;
    }
    yield chunk;
  }
}

/** Writes a one-file layer tar holding the image and returns its diffID. */
async function writeLayer(path: string, version: 'old' | 'new'): Promise<Digest> {
  const hash = createHash('sha256');
  const entry = { path: 'data/disk.img', type: 'file' as const, mode: 0o644, size: FILE_BYTES, open: () => Readable.from(image(version)) };
  const tar = deterministicTar([{ path: 'data', type: 'directory', mode: 0o755 }, entry], { mtime: 1_700_000_000 });
  tar.on('data', (chunk: Buffer) => hash.update(chunk));
  await pipeline(tar, createWriteStream(path));
  return `sha256:${hash.digest('hex')}`;
}

t.test('a 600 MiB file with moved regions and scattered edits round-trips within a 1 GiB budget, far smaller than block matching', async (t) => {
  const dir = t.testdir();
  const oldTar = join(dir, 'old.tar');
  const newTar = join(dir, 'new.tar');
  const layer = async (path: string, version: 'old' | 'new'): Promise<DeltaLayer> => {
    const diffID = await writeLayer(path, version);
    return { diffID, openUncompressed: async () => createReadStream(path) };
  };
  const base = await layer(oldTar, 'old');
  const target = await layer(newTar, 'new');

  // 1 GiB leaves less than old + new for matching: the file is matched in windows
  const planner = await createDeltaPlanner([base], { workDir: dir, maxMemory: 1024 ** 3 });
  const deltaPath = join(dir, 'delta');
  let identity: DeltaIdentity;
  try {
    const result = await planner.plan(target, deltaPath);
    t.equal(result.stats.files.patched, 1, 'the image is patched');
    identity = { target: result.target.diffID, basisLayers: result.basisLayers };
  } finally {
    await planner.close();
  }

  const delta = await open(deltaPath);
  const oldFile = await open(oldTar);
  try {
    const deltaBytes = (await delta.stat()).size;
    const output = createHash('sha256');
    let outputBytes = 0;
    const reader: BasisReader = {
      async read(_index, position, length) {
        const bytes = Buffer.alloc(length);
        await oldFile.read(bytes, 0, length, position);
        return bytes;
      },
    };
    for await (const piece of decodeDelta(createReadStream(deltaPath), async () => reader, identity)) {
      output.update(piece);
      outputBytes += piece.length;
    }
    t.equal(`sha256:${output.digest('hex')}`, target.diffID, `the decoded ${outputBytes} bytes are the new layer`);
    // Block matching (4 KiB blocks at this size) sends at least the whole block around each
    // edit as literal, incompressible here: 3,000 x 4 KiB = 12 MiB. A patch sends each edit
    // as a few bytes and each moved region as a seek.
    t.ok(deltaBytes < 400 * 1024, `delta is ${deltaBytes} bytes (block matching: more than 12 MiB)`);
  } finally {
    await delta.close();
    await oldFile.close();
  }
});
