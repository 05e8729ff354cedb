import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { PatchOp } from '../../../../shared/delta/format.js';
import { PatchWindow } from '../../../../shared/delta/window.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { approximateMatch } from './approximate-match.js';
import { cheaperPatch, chooseEncoding } from './content-choice.js';
import { PART_BYTES } from './match-memory.js';
import type { MatchJob, MatchMessage, PoolRequest } from './match-protocol.js';
import type { PatchSteps } from './patch-builder.js';
import { elfArchitecture } from './predict-references.js';
import type { SavedRange } from './tar-files.js';
import { pairWindows } from './window-pairing.js';

/** Parts posted and not yet taken by the writer: the worker waits beyond this, so that parts never pile up. */
const MAX_PARTS_AHEAD = 2;

const port = parentPort!;
let acknowledged = 0;
let posted = 0;
let wakeUp: (() => void) | undefined;

function readInto(ranges: readonly SavedRange[], offset: number, length: number): Buffer {
  const bytes = Buffer.allocUnsafeSlow(length);
  let filled = 0;
  let skip = offset;
  for (const { tarPath, range } of ranges) {
    if (filled === length) break;
    if (skip >= range.length) {
      skip -= range.length;
      continue;
    }
    const take = Math.min(range.length - skip, length - filled);
    const fd = openSync(tarPath, 'r');
    try {
      for (let done = 0; done < take; ) {
        const read = readSync(fd, bytes, filled + done, take - done, range.offset + skip + done);
        if (read === 0) throw new PrtiqlError('E_INTERNAL', `${tarPath} ends before ${range.offset + skip + take}`);
        done += read;
      }
    } finally {
      closeSync(fd);
    }
    filled += take;
    skip = 0;
  }
  if (filled !== length) throw new PrtiqlError('E_INTERNAL', `read of ${length} bytes at ${offset} passes the end of the input`);
  return bytes;
}

const totalLength = (ranges: readonly SavedRange[]) => ranges.reduce((sum, { range }) => sum + range.length, 0);

async function post(message: MatchMessage): Promise<void> {
  port.postMessage(message);
  if (message.type !== 'part') return;
  posted++;
  while (posted - acknowledged > MAX_PARTS_AHEAD) await new Promise<void>((resolve) => (wakeUp = resolve));
}

/**
 * Executables from this size on are patched (part by part, each a PATCH or an XPATCH) without
 * also estimating them as LZ77 copies and as literal: code never came out smaller that way on
 * the corpus pairs, and the LZ77 matching of a large executable took most of its build time.
 */
const CODE_ALWAYS_PATCHED_BYTES = 1024 * 1024;

/** Bytes of an ELF file's identification and e_machine field: enough to tell its architecture. */
const ELF_HEADER_BYTES = 20;

async function run(job: MatchJob): Promise<void> {
  const { shape } = job;
  const oldSize = totalLength(job.old);
  const newSize = job.next.range.length;
  const architecture = elfArchitecture(readInto([job.next], 0, Math.min(newSize, ELF_HEADER_BYTES)));
  // The candidates' ranges as the writer's window holds them: an XPATCH made over the same
  // ranges (their offsets fix the aarch64 phase) is exact there and is sent as it is.
  const candidates = new PatchWindow(job.old.map(({ range }) => ({ basis: 0, ...range })));
  const patchOver = (windowStart: number, windowLength: number, steps: PatchSteps): PatchOp => ({ type: 'patch', window: candidates.slices(windowStart, windowLength), ...steps });
  // Each part of a large file is an XPATCH only where that is cheaper: prediction helps on code and can hurt on data.
  const postPart = (window: Uint8Array, windowStart: number, steps: PatchSteps) => {
    const patch = architecture === undefined ? { steps } : cheaperPatch(window, patchOver(windowStart, window.length, steps), architecture).patch;
    return post({ type: 'part', windowStart, windowLength: window.length, ...patch });
  };
  if (shape.kind === 'windowed') {
    const readOld = (offset: number, length: number) => readInto(job.old, offset, length);
    const readNew = (offset: number, length: number) => readInto([job.next], offset, length);
    for (const pair of pairWindows(readOld, oldSize, readNew, newSize, shape.partBytes, shape.windowBytes)) {
      const window = readOld(pair.oldStart, pair.oldLength);
      for (const steps of approximateMatch(window, readNew(pair.newStart, pair.newLength), shape.stride, PART_BYTES)) await postPart(window, pair.oldStart, steps);
    }
    return;
  }
  const old = readInto(job.old, 0, oldSize);
  const next = readInto([job.next], 0, newSize);
  if (!shape.choose || (architecture !== undefined && newSize >= CODE_ALWAYS_PATCHED_BYTES)) {
    for (const steps of approximateMatch(old, next, shape.stride, PART_BYTES)) await postPart(old, 0, steps);
    return;
  }
  const [steps] = approximateMatch(old, next, shape.stride);
  const choice = chooseEncoding(old, next, patchOver(0, oldSize, steps!), architecture);
  if (choice.kind === 'patch') await post({ type: 'part', windowStart: 0, windowLength: oldSize, ...choice.patch });
  else await post(choice.kind === 'matches' ? { type: 'matches', pieces: choice.pieces } : { type: 'literal' });
}

port.on('message', (request: PoolRequest) => {
  if (request.type === 'ack') {
    acknowledged++;
    wakeUp?.();
    return;
  }
  acknowledged = 0;
  posted = 0;
  run(request.job).then(
    () => port.postMessage({ type: 'done' } satisfies MatchMessage),
    (error: unknown) =>
      port.postMessage({ type: 'error', message: (error as Error).message ?? String(error), code: error instanceof PrtiqlError ? error.code : undefined } satisfies MatchMessage),
  );
});
