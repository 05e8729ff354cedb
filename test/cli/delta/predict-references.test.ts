import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { approximateMatch } from '../../../cli/src/lib/delta/approximate-match.js';
import { elfArchitecture, predictReferences } from '../../../cli/src/lib/delta/predict-references.js';
import { decodeDelta } from '../../../shared/delta/decoder.js';
import type { PatchOp, XPatchOp } from '../../../shared/delta/format.js';
import type { Architecture } from '../../../shared/delta/reference-prediction.js';
import { encodeDelta } from '../../../shared/delta/writer.js';
import { collect, fileBases, headerFor, memoryBases, pieces } from '../../helpers/delta.js';

const run = promisify(execFile);

/** Deterministic pseudo-random numbers, so that a failure reproduces. */
function randomSource(seed: number): (limit: number) => number {
  let state = seed;
  return (limit) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % limit;
  };
}

/** The matcher's patch of `next` against `old`, as a PATCH over a window of the whole old file. */
function matchedPatch(old: Buffer, next: Buffer): PatchOp {
  const [steps] = approximateMatch(old, next);
  return { type: 'patch', window: [{ basis: 0, offset: 0, length: old.length }], ...steps! };
}

/** The delta blob of one op, and what it decodes to against `old`. */
async function roundTrip(op: PatchOp | XPatchOp, old: Buffer, next: Buffer): Promise<{ size: number; decoded: Buffer }> {
  const blob = await collect(encodeDelta(headerFor(next, fileBases([old])), [op]));
  return { size: blob.length, decoded: await collect(decodeDelta(pieces(blob, 4096), memoryBases([old]))) };
}

/** Checks that the XPATCH rebuilds `next` exactly and returns both blob sizes. */
async function compare(t: Test, old: Buffer, next: Buffer, architecture: Architecture): Promise<{ patch: number; xpatch: number }> {
  const patch = matchedPatch(old, next);
  const xpatch = predictReferences(patch, old, architecture);
  const plain = await roundTrip(patch, old, next);
  const predicted = await roundTrip(xpatch, old, next);
  t.ok(plain.decoded.equals(next), 'the PATCH rebuilds the new file');
  t.ok(predicted.decoded.equals(next), 'the XPATCH rebuilds the new file');
  t.ok(xpatch.prediction.shifts.length > 0, `the shift map has ${xpatch.prediction.shifts.length} breakpoints`);
  return { patch: plain.size, xpatch: predicted.size };
}

interface Program {
  /** Bytes of each function, with its call sites still to be filled in. */
  bodies: Buffer[];
  /** Per function: where its calls are, and which function each calls. */
  calls: { at: number; callee: number }[][];
}

/**
 * Functions of filler instructions with calls between them; `link` lays them out one after
 * another and writes each call's displacement for that layout, as a linker would.
 */
function drawProgram(random: (limit: number) => number, functions: number, unit: number, filler: (random: (limit: number) => number) => Buffer): Program {
  const bodies: Buffer[] = [];
  const calls: { at: number; callee: number }[][] = [];
  for (let f = 0; f < functions; f++) {
    const units = 8 + random(40);
    const body = Buffer.concat(Array.from({ length: units }, () => filler(random)));
    const sites = Array.from({ length: 1 + random(4) }, () => ({ at: random(units - 2) * unit, callee: random(functions) }));
    const distinct = [...new Map(sites.map((site) => [site.at, site])).values()];
    bodies.push(body);
    calls.push(distinct);
  }
  return { bodies, calls };
}

/** The program with `bytes` filler bytes inserted at the start of some functions: every later function moves. */
function grow(program: Program, random: (limit: number) => number, functions: number, filler: (random: (limit: number) => number) => Buffer): Program {
  const bodies = program.bodies.map((body) => Buffer.from(body));
  const calls = program.calls.map((sites) => sites.map((site) => ({ ...site })));
  for (let i = 0; i < functions; i++) {
    const f = random(bodies.length);
    const inserted = Buffer.concat(Array.from({ length: 1 + random(6) }, () => filler(random)));
    bodies[f] = Buffer.concat([inserted, bodies[f]!]);
    calls[f] = calls[f]!.map((site) => ({ ...site, at: site.at + inserted.length }));
  }
  return { bodies, calls };
}

function link(program: Program, writeCall: (code: Buffer, at: number, target: number) => void): Buffer {
  const starts: number[] = [];
  let length = 0;
  for (const body of program.bodies) {
    starts.push(length);
    length += body.length;
  }
  const code = Buffer.concat(program.bodies);
  program.calls.forEach((sites, f) => sites.forEach((site) => writeCall(code, starts[f]! + site.at, starts[site.callee]!)));
  return code;
}

/** x86-64: filler instructions of 1 to 7 bytes (no E8/E9/0F), calls are E8 rel32 (5 bytes). */
const x86Filler = (random: (limit: number) => number) => Buffer.from(Array.from({ length: 5 }, () => 0x10 + random(0xd0)));
const x86Call = (code: Buffer, at: number, target: number) => {
  code[at] = 0xe8;
  code.writeInt32LE(target - (at + 5), at + 1);
};

/** aarch64: filler words that are no B or BL, calls are BL imm26 words. */
const armFiller = (random: (limit: number) => number) => {
  const word = Buffer.alloc(4);
  word.writeUInt32LE((0x8b000000 + random(0x1000000)) >>> 0, 0);
  return word;
};
const armCall = (code: Buffer, at: number, target: number) => code.writeUInt32LE((0x94000000 | (((target - at) >> 2) & 0x3ffffff)) >>> 0, at);

for (const { arch, seed, callWidth, filler, call, what } of [
  { arch: 'x86_64', seed: 7, callWidth: 5, filler: x86Filler, call: x86Call, what: 'predicted calls' },
  { arch: 'aarch64', seed: 11, callWidth: 4, filler: armFiller, call: armCall, what: 'predicted BL immediates' },
] as const) {
  t.test(`${arch} code whose functions moved: ${what} make the delta much smaller, byte-exact`, async (t) => {
    const random = randomSource(seed);
    const program = drawProgram(random, 600, callWidth, filler);
    const old = link(program, call);
    const next = link(grow(program, random, 20, filler), call);
    const { patch, xpatch } = await compare(t, old, next, arch);
    t.ok(xpatch < patch * 0.5, `XPATCH ${xpatch} bytes < half the PATCH's ${patch}`);
  });
}

/** C source of `count` functions calling one another; `extra` statements go into function 3. */
function cProgram(count: number, extra: number): string {
  const lines = ['#include <stdio.h>', ...Array.from({ length: count }, (_, i) => `int f${i}(int x);`)];
  for (let i = 0; i < count; i++) {
    const body = [`  if (x <= 0) return ${i};`, `  int y = f${(i * 7 + 1) % count}(x - 1) + f${(i * 13 + 5) % count}(x - 2);`];
    if (i === 3) for (let k = 0; k < extra; k++) body.push(`  if (y == ${k * 31 + 7}) printf("f3 %d\\n", y);`);
    lines.push(`__attribute__((noinline)) int f${i}(int x) {`, ...body, `  return y * ${i + 3} + x;`, '}');
  }
  lines.push('int main(int argc, char **argv) { (void)argv; printf("%d\\n", f0(argc)); return 0; }');
  return lines.join('\n');
}

const compiler = await run('sh', ['-c', 'command -v cc']).then(
  ({ stdout }) => stdout.trim(),
  () => undefined,
);

t.test('two builds of a real C program: the XPATCH is byte-exact and smaller', { skip: compiler === undefined && 'no C compiler on this machine' }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'prtiql-xpatch-cc-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const build = async (name: string, extra: number) => {
    await writeFile(join(dir, `${name}.c`), cProgram(400, extra));
    await run(compiler!, ['-O1', '-o', join(dir, name), join(dir, `${name}.c`)]);
    return readFile(join(dir, name));
  };
  const old = await build('old', 0);
  const next = await build('new', 12);
  const architecture = elfArchitecture(old);
  t.ok(architecture, 'the compiler targets x86-64 or aarch64');
  t.equal(elfArchitecture(next), architecture);
  const { patch, xpatch } = await compare(t, old, next, architecture!);
  t.ok(xpatch < patch, `XPATCH ${xpatch} bytes < PATCH ${patch}`);
});

t.test('ELF architecture detection', async (t) => {
  const elf = (machine: number, elfClass = 2, data = 1) => {
    const bytes = Buffer.alloc(64);
    Buffer.from([0x7f, 0x45, 0x4c, 0x46, elfClass, data]).copy(bytes);
    bytes.writeUInt16LE(machine, 18);
    return bytes;
  };
  t.equal(elfArchitecture(elf(62)), 'x86_64');
  t.equal(elfArchitecture(elf(183)), 'aarch64');
  t.equal(elfArchitecture(elf(40)), undefined, '32-bit ARM is not predicted');
  t.equal(elfArchitecture(elf(62, 1)), undefined, 'ELFCLASS32');
  t.equal(elfArchitecture(elf(62, 2, 2)), undefined, 'big-endian');
  t.equal(elfArchitecture(Buffer.from('#!/bin/sh\n')), undefined);
});
