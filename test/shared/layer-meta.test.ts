import t from 'tap';
import { sha256Digest } from '../../shared/digest.js';
import {
  decodeLayerMeta,
  encodeLayerMeta,
  layerMetaFromTar,
  reassembleTar,
  skeletonFromBuffer,
  type LayerMetaEntry,
} from '../../shared/layer-meta.js';
import { splitTar } from '../../shared/tar/split.js';
import { layerTar } from '../helpers/signed-artifact-store.js';

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of source) parts.push(chunk);
  return Buffer.concat(parts);
}

async function* once(bytes: Buffer): AsyncGenerator<Buffer> {
  yield bytes;
}

/** Content by normalised path, as an extractor would have written it. */
async function contentsOf(tar: Buffer): Promise<Map<string, Buffer>> {
  const contents = new Map<string, Buffer[]>();
  let current: Buffer[] = [];
  for await (const part of splitTar(once(tar))) {
    if (part.kind === 'entry') contents.set(part.header.path.replace(/^\.\//, ''), (current = []));
    else if (part.kind === 'data') current.push(Buffer.from(part.bytes));
  }
  return new Map([...contents].map(([path, parts]) => [path, Buffer.concat(parts)]));
}

const sampleTar = () =>
  layerTar([
    { path: 'etc', type: 'directory', mode: 0o755 },
    { path: 'etc/config', type: 'file', mode: 0o644, content: 'key=value\n' },
    { path: 'etc/.wh.removed', type: 'file', mode: 0o644, content: '' },
    { path: `long/${'x'.repeat(200)}`, type: 'file', mode: 0o600, content: Buffer.alloc(1025, 2) },
    { path: 'long', type: 'directory', mode: 0o755 },
    { path: 'link', type: 'symlink', mode: 0o777, linkname: 'etc/config' },
  ]);

t.test('meta plus file contents rebuild the tar byte for byte', async (t) => {
  const tar = await sampleTar();
  const { meta, skeleton } = await layerMetaFromTar(once(tar));
  t.equal(meta.diffID, sha256Digest(tar));
  t.equal(meta.size, tar.length);
  t.equal(meta.skeletonSize, skeleton.length);
  t.same(
    meta.entries.map((e) => [e.path, e.type, e.size]),
    [
      ['etc', 'directory', 0],
      ['etc/.wh.removed', 'file', 0],
      ['etc/config', 'file', 10],
      ['link', 'symlink', 0],
      ['long', 'directory', 0],
      [`long/${'x'.repeat(200)}`, 'file', 1025],
    ],
  );
  const contents = await contentsOf(tar);
  const open = (entry: LayerMetaEntry) => once(contents.get(entry.path) as Buffer);
  t.ok((await collect(reassembleTar(meta, skeletonFromBuffer(skeleton), open))).equals(tar));

  const decoded = decodeLayerMeta(encodeLayerMeta(meta, skeleton));
  t.same(decoded.meta, meta);
  t.ok(decoded.skeleton.equals(skeleton));
});

t.test('content that changed length is reported, not silently reassembled', async (t) => {
  const tar = await sampleTar();
  const { meta, skeleton } = await layerMetaFromTar(once(tar));
  const open = (entry: LayerMetaEntry) => once(Buffer.alloc(entry.size + 1));
  await t.rejects(collect(reassembleTar(meta, skeletonFromBuffer(skeleton), open)), { code: 'E_SIZE_MISMATCH' });
});

t.test('corrupt metadata files are refused', async (t) => {
  const { meta, skeleton } = await layerMetaFromTar(once(await sampleTar()));
  const good = encodeLayerMeta(meta, skeleton);
  const badMagic = Buffer.from(good);
  badMagic.write('NOTAMETA', 0, 'latin1');
  const badVersion = Buffer.from(good);
  badVersion.writeUInt32BE(2, 8);
  const shifted = { ...meta, entries: meta.entries.map((e, i) => (i === 1 ? { ...e, segmentOffset: e.segmentOffset + 1 } : e)) };
  const wrongSize = { ...meta, size: meta.size + 1 };
  for (const [name, bytes] of [
    ['bad magic', badMagic],
    ['unknown version', badVersion],
    ['truncated skeleton', good.subarray(0, good.length - 1)],
    ['non-contiguous segments', encodeLayerMeta(shifted, skeleton)],
    ['sizes that do not add up', encodeLayerMeta(wrongSize, skeleton)],
  ] as const) {
    t.throws(() => decodeLayerMeta(bytes), { code: 'E_BAD_INPUT' }, name);
  }
});
