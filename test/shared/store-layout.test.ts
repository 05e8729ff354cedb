import t from 'tap';
import { digestHex, sha256Digest } from '../../shared/digest.js';
import { blobPath, checkChannelName, documentPath, historyPath, parseBlobPath, parseDocumentPath, pointerPath, timestampPath, type StoreDocument } from '../../shared/store-layout.js';

t.test('channel names are one safe path component, refused as a usage error', async (t) => {
  t.equal(checkChannelName('stable'), 'stable');
  t.equal(checkChannelName('edge-2.x_rc'), 'edge-2.x_rc');
  for (const name of ['', 'Stable', '../x', 'a/b', '-x', '.hidden', 'x'.repeat(65)]) {
    t.throws(() => checkChannelName(name), { code: 'E_USAGE', message: /invalid channel name/ }, name);
    for (const path of [pointerPath, timestampPath, historyPath]) t.throws(() => path(name), { code: 'E_USAGE' }, `${path.name}(${name})`);
  }
});

t.test('every document path the layout makes is parsed back to the document', async (t) => {
  const base = sha256Digest(Buffer.from('base'));
  const target = sha256Digest(Buffer.from('target'));
  const documents: [StoreDocument, string][] = [
    [{ kind: 'release', channel: 'stable' }, 'channels/stable/release.json'],
    [{ kind: 'timestamp', channel: 'stable' }, 'channels/stable/timestamp.json'],
    [{ kind: 'history', channel: 'beta' }, 'channels/beta/history.json'],
    [{ kind: 'root', version: 3 }, 'roots/3.json'],
    [{ kind: 'delta-record', base, target }, `deltas/${digestHex(base)}/${digestHex(target)}.json`],
  ];
  for (const [document, path] of documents) {
    t.equal(documentPath(document), path, document.kind);
    t.same(parseDocumentPath(path), document, path);
  }
  t.equal(parseBlobPath(blobPath(base)), base);
  for (const other of [blobPath(base), 'channels/UPPER/release.json', 'channels/stable/sub/release.json', 'channels/stable/other.json', 'roots/x.json', 'roots/0.json', 'deltas/abc/def.json', '']) {
    t.equal(parseDocumentPath(other), undefined, other);
  }
  for (const other of [pointerPath('stable'), `blobs/sha256/${'A'.repeat(64)}`, 'blobs/sha256/abc', `/blobs/sha256/${'a'.repeat(64)}`]) {
    t.equal(parseBlobPath(other), undefined, other);
  }
});
