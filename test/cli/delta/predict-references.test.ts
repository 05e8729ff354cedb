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
import { collect, tarBases, headerFor, identityOf, memoryBases, pieces } from '../../helpers/delta.js';
import { AARCH64, drawProgram, grow, link, randomSource, X86_64 } from '../../helpers/machine-code.js';

const run = promisify(execFile);

/** The matcher's patch of `next` against `old`, as a PATCH over a window of the whole old file. */
function matchedPatch(old: Buffer, next: Buffer): PatchOp {
  const [steps] = approximateMatch(old, next);
  return { type: 'patch', window: [{ basis: 0, offset: 0, length: old.length }], ...steps! };
}

/** The delta blob of one op, and what it decodes to against `old`. */
async function roundTrip(op: PatchOp | XPatchOp, old: Buffer, next: Buffer): Promise<{ size: number; decoded: Buffer }> {
  const header = headerFor(next, tarBases([old]));
  const blob = await collect(encodeDelta(header, [op]));
  return { size: blob.length, decoded: await collect(decodeDelta(pieces(blob, 4096), memoryBases([old]), identityOf(header))) };
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

for (const { isa, seed, what } of [
  { isa: X86_64, seed: 7, what: 'predicted calls' },
  { isa: AARCH64, seed: 11, what: 'predicted BL immediates' },
]) {
  t.test(`${isa.architecture} code whose functions moved: ${what} make the delta much smaller, byte-exact`, async (t) => {
    const random = randomSource(seed);
    const program = drawProgram(random, 600, isa);
    const old = link(program, isa);
    const next = link(grow(program, random, 20, isa), isa);
    const { patch, xpatch } = await compare(t, old, next, isa.architecture);
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
