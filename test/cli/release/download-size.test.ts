import t from 'tap';
import type { Digest } from '../../../shared/digest.js';
import type { ReleaseDelta } from '../../../shared/release.js';
import { downloadSize } from '../../../cli/src/lib/release/download-size.js';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}` as Digest;
const [base, other, shared, changed, fresh] = [1, 2, 3, 4, 5].map(digest);

function delta(from: Digest, target: Digest, size: number): ReleaseDelta {
  return { base: from, target, basisLayers: [shared], blob: { mediaType: 'application/vnd.prtiql.delta.v1', digest: digest(100 + size), size, chunkSize: 1024, chunks: [] } };
}

t.test('a device fetches nothing for layers it has, the smallest delta from its base, else the gzip layer', async (t) => {
  const layers = [{ diffID: shared, size: 1000 }, { diffID: changed, size: 5000 }, { diffID: fresh, size: 300 }];
  const deltas = [delta(base, changed, 400), delta(base, changed, 250), delta(other, changed, 10), delta(base, fresh, 900)];
  t.same(downloadSize(layers, deltas, base, new Set([shared])), { downloadBytes: 250 + 300, fullBytes: 6300 }, 'a delta larger than its layer is not used');
  t.same(downloadSize(layers, deltas, other, new Set()), { downloadBytes: 1000 + 10 + 300, fullBytes: 6300 }, 'deltas from another base do not count');
});

t.test('a layer listed twice is fetched and counted once', async (t) => {
  const layers = [{ diffID: changed, size: 5000 }, { diffID: changed, size: 5000 }];
  t.same(downloadSize(layers, [], base, new Set()), { downloadBytes: 5000, fullBytes: 5000 });
});
