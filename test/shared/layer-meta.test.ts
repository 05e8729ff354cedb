import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { openLayerMetaFile } from '../../applier/device-store/layer-meta-file.js';
import { DeviceStore } from '../../applier/device-store/device-store.js';
import { installLayer } from '../../applier/update/install-layer.js';
import { sha256Digest } from '../../shared/digest.js';
import { LAYER_META_PREFIX_BYTES, layerMetaIndexLength, layerMetaIndexText, layerMetaPrefix, parseLayerMetaIndex, type LayerMeta } from '../../shared/layer-meta.js';
import type { ReleaseLayer } from '../../shared/release.js';
import { layerTar } from '../helpers/signed-artifact-store.js';
import { storedLayerTar } from '../helpers/stored-layer-tar.js';

const sampleTar = () =>
  layerTar([
    { path: 'etc', type: 'directory', mode: 0o755 },
    { path: 'etc/config', type: 'file', mode: 0o644, content: 'key=value\n' },
    { path: 'etc/.wh.removed', type: 'file', mode: 0o644, content: '' },
    { path: `long/${'x'.repeat(200)}`, type: 'file', mode: 0o600, content: Buffer.alloc(1025, 2) },
    { path: 'long', type: 'directory', mode: 0o755 },
    { path: 'link', type: 'symlink', mode: 0o777, linkname: 'etc/config' },
  ]);

/** The sample layer installed into a new device store as an update installs it. */
async function installed(t: Test) {
  const tar = await sampleTar();
  const store = await DeviceStore.create(t.testdir());
  const diffID = sha256Digest(tar);
  await installLayer(store, { diffID, size: tar.length } as ReleaseLayer, Readable.from([tar]));
  return { tar, store, diffID, metaPath: store.layerMetaPath(diffID) };
}

/** A metadata file with `meta` as its index and `skeleton` after it. */
function metaFile(meta: LayerMeta, skeleton: Buffer): Buffer {
  const index = Buffer.from([...layerMetaIndexText(meta)].join(''), 'utf8');
  return Buffer.concat([layerMetaPrefix(index.length), index, skeleton]);
}

/** The index and skeleton of a metadata file. */
function split(bytes: Buffer): { meta: LayerMeta; skeleton: Buffer } {
  const indexEnd = LAYER_META_PREFIX_BYTES + layerMetaIndexLength(bytes.subarray(0, LAYER_META_PREFIX_BYTES));
  return { meta: parseLayerMetaIndex(bytes.subarray(LAYER_META_PREFIX_BYTES, indexEnd)), skeleton: bytes.subarray(indexEnd) };
}

t.test('an installed layer metadata lists every entry, and with the files rebuilds the tar byte for byte', async (t) => {
  const { tar, store, diffID, metaPath } = await installed(t);
  const opened = await openLayerMetaFile(metaPath);
  t.teardown(() => opened.close());
  t.equal(opened.meta.diffID, diffID);
  t.equal(opened.meta.size, tar.length);
  t.same(
    opened.meta.entries.map((e) => [e.path, e.type, e.size]),
    [
      ['etc', 'directory', 0],
      ['etc/.wh.removed', 'file', 0],
      ['etc/config', 'file', 10],
      ['link', 'symlink', 0],
      ['long', 'directory', 0],
      [`long/${'x'.repeat(200)}`, 'file', 1025],
    ],
  );
  t.ok((await storedLayerTar(store, diffID)).equals(tar));
});

t.test('a layer file that changed length is reported, not silently read', async (t) => {
  const { store, diffID } = await installed(t);
  await appendFile(join(store.layerDir(diffID), 'etc/config'), 'more\n');
  await t.rejects(storedLayerTar(store, diffID), { code: 'E_NOT_FOUND', message: /etc\/config .*is not the 10-byte file/ });
});

t.test('corrupt metadata files are refused', async (t) => {
  const { metaPath } = await installed(t);
  const good = await readFile(metaPath);
  const { meta, skeleton } = split(good);
  const badMagic = Buffer.from(good);
  badMagic.write('NOTAMETA', 0, 'latin1');
  const badVersion = Buffer.from(good);
  badVersion.writeUInt32BE(2, 8);
  const shifted = { ...meta, entries: meta.entries.map((e, i) => (i === 1 ? { ...e, segmentOffset: e.segmentOffset + 1 } : e)) };
  const wrongSize = { ...meta, size: meta.size + 1 };
  t.ok(metaFile(meta, skeleton).equals(good), 'the file is its prefix, index and skeleton');
  for (const [name, bytes, message] of [
    ['bad magic', badMagic, /bad magic/],
    ['unknown version', badVersion, /unsupported version 2/],
    ['truncated skeleton', good.subarray(0, good.length - 1), /wrong size/],
    ['non-contiguous segments', metaFile(shifted, skeleton), /entry "etc\/\.wh\.removed" is malformed/],
    ['sizes that do not add up', metaFile(wrongSize, skeleton), /do not add up to the tar size/],
  ] as const) {
    await writeFile(metaPath, bytes);
    await t.rejects(openLayerMetaFile(metaPath), { code: 'E_BAD_INPUT', message }, name);
  }
});
