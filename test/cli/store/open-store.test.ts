import { join, resolve } from 'node:path';
import t from 'tap';
import { FileStore } from '../../../cli/src/lib/store/file-store.js';
import { openStore } from '../../../cli/src/lib/store/open-store.js';

t.test('file:// URLs open a directory store', async (t) => {
  const absolute = openStore('file:///srv/releases');
  t.ok(absolute instanceof FileStore);
  t.equal((absolute as FileStore).root, '/srv/releases');
  t.equal((openStore('file://out/store') as FileStore).root, resolve('out/store'));
  t.equal(openStore('FILE:///x').location, join('/', 'x'));
});

t.test('stores that are planned but not built yet are named as such', async (t) => {
  t.throws(() => openStore('s3://bucket/prefix'), { code: 'E_BAD_REFERENCE', message: 's3:// stores are not supported yet: use file://<dir>' });
  t.throws(() => openStore('docker://registry.example/app'), { code: 'E_BAD_REFERENCE', message: /docker:\/\/ stores are not supported yet: use file:\/\/<dir>/ });
});

t.test('anything else is a bad reference naming the supported form', async (t) => {
  for (const url of ['/plain/path', 'http://host/x', 'file://', 'ftp://x']) {
    t.throws(() => openStore(url), { code: 'E_BAD_REFERENCE', message: /file:\/\/<dir>/ }, url);
  }
});
