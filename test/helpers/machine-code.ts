import type { Architecture } from '../../shared/delta/reference-prediction.js';

/** Synthetic machine code for the reference prediction tests: functions calling one another, relinked after some grow. */

export type Random = (limit: number) => number;

/** Deterministic pseudo-random numbers, so that a failure reproduces. */
export function randomSource(seed: number): Random {
  let state = seed;
  return (limit) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % limit;
  };
}

/** How one instruction set's filler instructions and calls look; a call is `unit` bytes. */
export interface InstructionSet {
  architecture: Architecture;
  /** The ELF e_machine value. */
  machine: number;
  unit: number;
  /** Writes one filler instruction of `unit` bytes, never a call or branch, at `at`. */
  fill(random: Random, code: Buffer, at: number): void;
  /** Writes a call at `at` to `target`. */
  call(code: Buffer, at: number, target: number): void;
}

/** Filler bytes avoid E8, E9 and 0F (calls, jumps, two-byte opcodes); calls are E8 rel32. */
export const X86_64: InstructionSet = {
  architecture: 'x86_64',
  machine: 62,
  unit: 5,
  fill: (random, code, at) => {
    for (let k = 0; k < 5; k++) code[at + k] = 0x10 + random(0xd0);
  },
  call: (code, at, target) => {
    code[at] = 0xe8;
    code.writeInt32LE(target - (at + 5), at + 1);
  },
};

/** Filler words are no B or BL; calls are BL imm26. */
export const AARCH64: InstructionSet = {
  architecture: 'aarch64',
  machine: 183,
  unit: 4,
  fill: (random, code, at) => code.writeUInt32LE((0x8b000000 + random(0x1000000)) >>> 0, at),
  call: (code, at, target) => code.writeUInt32LE((0x94000000 | (((target - at) >> 2) & 0x3ffffff)) >>> 0, at),
};

export interface Program {
  /** Bytes of each function, with its call sites still to be filled in. */
  bodies: Buffer[];
  /** Per function: where its calls are, and which function each calls. */
  calls: { at: number; callee: number }[][];
}

function filler(random: Random, isa: InstructionSet, units: number): Buffer {
  const code = Buffer.alloc(units * isa.unit);
  for (let u = 0; u < units; u++) isa.fill(random, code, u * isa.unit);
  return code;
}

/** `functions` functions of 8 to 47 filler instructions, each with one to four calls. */
export function drawProgram(random: Random, functions: number, isa: InstructionSet): Program {
  const bodies: Buffer[] = [];
  const calls: { at: number; callee: number }[][] = [];
  for (let f = 0; f < functions; f++) {
    const units = 8 + random(40);
    const body = filler(random, isa, units);
    const sites = Array.from({ length: 1 + random(4) }, () => ({ at: random(units - 2) * isa.unit, callee: random(functions) }));
    bodies.push(body);
    calls.push([...new Map(sites.map((site) => [site.at, site])).values()]);
  }
  return { bodies, calls };
}

/** The program with filler instructions inserted at the start of `functions` functions: every later function moves. */
export function grow(program: Program, random: Random, functions: number, isa: InstructionSet): Program {
  const bodies = program.bodies.map((body) => Buffer.from(body));
  const calls = program.calls.map((sites) => sites.map((site) => ({ ...site })));
  for (let i = 0; i < functions; i++) {
    const f = random(bodies.length);
    const inserted = filler(random, isa, 1 + random(6));
    bodies[f] = Buffer.concat([inserted, bodies[f]!]);
    calls[f] = calls[f]!.map((site) => ({ ...site, at: site.at + inserted.length }));
  }
  return { bodies, calls };
}

/** Lays the functions out one after another and writes each call's displacement for that layout, as a linker would. */
export function link(program: Program, isa: InstructionSet): Buffer {
  const starts: number[] = [];
  let length = 0;
  for (const body of program.bodies) {
    starts.push(length);
    length += body.length;
  }
  const code = Buffer.concat(program.bodies);
  program.calls.forEach((sites, f) => sites.forEach((site) => isa.call(code, starts[f]! + site.at, starts[site.callee]!)));
  return code;
}

/** A 64-bit little-endian ELF file of `isa` holding `contents` after its 64-byte header. */
export function elfFile(isa: InstructionSet, ...contents: Buffer[]): Buffer {
  const header = Buffer.alloc(64);
  header.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  header.writeUInt16LE(isa.machine, 18);
  return Buffer.concat([header, ...contents]);
}
