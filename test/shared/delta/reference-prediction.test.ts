import t from 'tap';
import { ReferencePredictor } from '../../../shared/delta/reference-prediction.js';

const RIP_ONE_BYTE = [0x03, 0x2b, 0x39, 0x3b, 0x63, 0x89, 0x8b, 0x8d, 0xff];
const RIP_TWO_BYTE = [0x10, 0x11, 0x28, 0x29, 0x6f, 0x7f, 0xb6, 0xb7];

/** docs/delta-format.md, "Sites", x86-64: is there a field at s = 3 after the bytes b[0], b[1], b[2]? */
function specifiedSite(b0: number, b1: number, b2: number): boolean {
  if (b2 === 0xe8 || b2 === 0xe9) return true;
  if (b1 === 0x0f && b2 >= 0x80 && b2 <= 0x8f) return true;
  return (b2 & 0xc7) === 0x05 && (RIP_ONE_BYTE.includes(b1) || (b0 === 0x0f && RIP_TWO_BYTE.includes(b1)));
}

t.test('x86-64 sites: every pair of bytes before a field, and the two-byte opcodes after 0F, as the format specifies', async (t) => {
  const predictor = new ReferencePredictor({ architecture: 'x86_64', phase: 0, shifts: [] }, 7);
  const window = new Uint8Array(7);
  const triples: [number, number, number][] = [];
  for (let b1 = 0; b1 < 256; b1++) for (let b2 = 0; b2 < 256; b2++) triples.push([0x00, b1, b2]);
  for (const b1 of RIP_TWO_BYTE) for (let b2 = 0; b2 < 256; b2++) triples.push([0x0f, b1, b2]);
  const wrong: string[] = [];
  for (const [b0, b1, b2] of triples) {
    window.set([b0, b1, b2]);
    let found = false;
    predictor.forEachSite(window, 0, 3, 4, (site) => (found ||= site === 3));
    if (found !== specifiedSite(b0, b1, b2)) wrong.push(`${[b0, b1, b2].map((b) => b.toString(16).padStart(2, '0')).join(' ')}: ${found ? 'found' : 'missed'}`);
  }
  t.same(wrong.slice(0, 20), [], `${wrong.length} of ${triples.length} byte triples disagree with the specification`);
});
