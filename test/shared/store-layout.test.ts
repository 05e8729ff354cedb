import t from 'tap';
import { sha256Digest } from '../../shared/digest.js';
import { blobPath, checkChannelName, deltaRecordPath, historyPath, parseBlobPath, parseDocumentPath, pointerPath, rootPath, timestampPath } from '../../shared/store-layout.js';

t.test('channel names are one safe path component, refused as a usage error', async (t) => {
  t.equal(checkChannelName('stable'), 'stable');
  t.equal(checkChannelName('edge-2.x_rc'), 'edge-2.x_rc');
  for (const name of ['', 'Stable', '../x', 'a/b', '-x', '.hidden', 'x'.repeat(65)]) {
    t.throws(() => checkChannelName(name), { code: 'E_USAGE', message: /invalid channel name/ }, name);
    for (const path of [pointerPath, timestampPath, historyPath]) t.throws(() => path(name), { code: 'E_USAGE' }, `${path.name}(${name})`);
  }
});

t.test('every path the layout makes is parsed back to what it names', async (t) => {
  const base = sha256Digest(Buffer.from('base'));
  const target = sha256Digest(Buffer.from('target'));
  t.equal(parseBlobPath(blobPath(base)), base);
  t.same(parseDocumentPath(pointerPath('stable')), { kind: 'release', channel: 'stable' });
  t.same(parseDocumentPath(timestampPath('stable')), { kind: 'channel', channel: 'stable', name: 'timestamp' });
  t.same(parseDocumentPath(historyPath('beta')), { kind: 'channel', channel: 'beta', name: 'history' });
  t.same(parseDocumentPath(rootPath(3)), { kind: 'root', version: 3 });
  t.same(parseDocumentPath(deltaRecordPath(base, target)), { kind: 'delta-record', base, target });
  for (const other of [blobPath(base), 'channels/UPPER/release.json', 'channels/stable/sub/release.json', 'roots/x.json', 'deltas/abc/def.json', '']) {
    t.equal(parseDocumentPath(other), undefined, other);
  }
  for (const other of [pointerPath('stable'), `blobs/sha256/${'A'.repeat(64)}`, 'blobs/sha256/abc', `/blobs/sha256/${'a'.repeat(64)}`]) {
    t.equal(parseBlobPath(other), undefined, other);
  }
});
