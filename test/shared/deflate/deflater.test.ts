import { spawnSync } from 'node:child_process';
import t from 'tap';
import { Deflater } from '../../../shared/deflate/deflater.js';
import type { DeflateParams } from '../../../shared/deflate/params.js';

/** Deterministic pseudo-random numbers, so that a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

/** Changelog-like text: repeated words and lines, the kind of input gzip's block heuristic looks at. */
function text(seed: number, bytes: number): Buffer {
  const next = random(seed);
  const words = ['package', 'version', 'fix', 'security', 'upload', 'debian', '(closes: #', ')', 'urgency=medium', '--', 'maintainer', '\n', '  * '];
  const parts: string[] = [];
  for (let length = 0; length < bytes; ) {
    const word = next() < 0.1 ? Math.floor(next() * 1e6).toString(36) : words[Math.floor(next() * words.length)]!;
    parts.push(word, ' ');
    length += word.length + 1;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

/** Bytes with long zero runs and some noise: matches that run into the end of the input. */
function binary(seed: number, bytes: number): Buffer {
  const next = random(seed);
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) if (next() < 0.3) out[i] = Math.floor(next() * 256);
  return out;
}

/** The raw deflate stream inside `gzip -<level>n` output (10-byte header, 8-byte trailer). */
function gnuGzip(input: Buffer, level: number): Buffer {
  const result = spawnSync('gzip', [`-${level}n`], { input, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`gzip failed: ${result.stderr}`);
  return result.stdout.subarray(10, result.stdout.length - 8);
}

/** What the system's zlib writes (through Python's binding), raw deflate with window bits 15. */
function systemZlib(input: Buffer, level: number, memLevel: number): Buffer {
  const script = `import sys, zlib\nc = zlib.compressobj(${level}, zlib.DEFLATED, -15, ${memLevel})\nsys.stdout.buffer.write(c.compress(sys.stdin.buffer.read()) + c.flush())`;
  const result = spawnSync('python3', ['-c', script], { input, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`python3 zlib failed: ${result.stderr}`);
  return result.stdout;
}

/** Deflates in chunks of varying size: chunking must not change the output. */
function deflateChunked(input: Buffer, params: DeflateParams, seed: number, deflater = new Deflater(params)): Buffer {
  const next = random(seed);
  const parts: Uint8Array[] = [];
  for (let at = 0; at < input.length; ) {
    const size = 1 + Math.floor(next() * 100_000);
    parts.push(...deflater.write(input.subarray(at, at + size)));
    at += size;
  }
  parts.push(...deflater.end());
  return Buffer.concat(parts);
}

const inputs: [string, Buffer][] = [
  ['empty', Buffer.alloc(0)],
  ['one byte', Buffer.from('x')],
  ['short text', Buffer.from('hello hello hello world\n')],
  ['text of 5 KB', text(1, 5_000)],
  ['text of 200 KB', text(2, 200_000)],
  ['text of 1.3 MB', text(3, 1_300_000)],
  ['binary of 150 KB', binary(4, 150_000)],
  ['zeros of 100 KB', Buffer.alloc(100_000)],
];

t.test('gzip flavour: byte for byte what GNU gzip writes', async (t) => {
  for (const [name, input] of inputs) {
    for (const level of [9, 6, 4]) {
      const expected = gnuGzip(input, level);
      t.ok(deflateChunked(input, { flavour: 'gzip', level, memLevel: 8 }, level).equals(expected), `${name}, level ${level}`);
    }
  }
});

t.test('zlib flavour: byte for byte what zlib writes', async (t) => {
  for (const [name, input] of inputs) {
    for (const [level, memLevel] of [
      [9, 8],
      [6, 8],
      [5, 9],
      [4, 2],
    ] as const) {
      const expected = systemZlib(input, level, memLevel);
      t.ok(deflateChunked(input, { flavour: 'zlib', level, memLevel }, level).equals(expected), `${name}, level ${level}, memLevel ${memLevel}`);
    }
  }
});

t.test('a deflater reset between streams writes each as a new one would', async (t) => {
  const streams = [...inputs].sort(([, a], [, b]) => b.length - a.length);
  for (const params of [{ flavour: 'gzip', level: 9, memLevel: 8 }, { flavour: 'zlib', level: 6, memLevel: 8 }] as const) {
    const reused = new Deflater(params);
    for (const [name, input] of streams) {
      reused.reset();
      t.ok(deflateChunked(input, params, 7, reused).equals(deflateChunked(input, params, 7)), `${params.flavour}: ${name} after the larger streams`);
    }
  }
});

t.test('the two flavours differ where gzip splits blocks its own way', async (t) => {
  const input = text(3, 1_300_000);
  t.not(deflateChunked(input, { flavour: 'zlib', level: 9, memLevel: 8 }, 1).equals(gnuGzip(input, 9)), 'zlib settings do not reproduce gzip here');
});

t.test('parameters no encoder here reproduces are refused', async (t) => {
  t.throws(() => new Deflater({ flavour: 'zlib', level: 3, memLevel: 8 }), /level 3/);
  t.throws(() => new Deflater({ flavour: 'gzip', level: 9, memLevel: 9 }), /memory level/);
  t.throws(() => new Deflater({ flavour: 'zlib', level: 9, memLevel: 10 }), /memory level/);
});
