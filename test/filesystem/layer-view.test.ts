import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { readImageFile, scanWhiteouts } from '../../filesystem/layer-view.js';

/** Creates files (content strings), directories (trailing '/') and symlinks ('-> target'). */
async function layer(root: string, entries: Record<string, string>): Promise<string> {
  await mkdir(root, { recursive: true });
  for (const [path, content] of Object.entries(entries)) {
    const absolute = join(root, path);
    if (path.endsWith('/')) {
      await mkdir(absolute, { recursive: true });
    } else {
      await mkdir(join(absolute, '..'), { recursive: true });
      if (content.startsWith('-> ')) await symlink(content.slice(3), absolute);
      else await writeFile(absolute, content);
    }
  }
  return root;
}

const read = async (layersTopDown: string[], path: string) => (await readImageFile(layersTopDown, path, 1024))?.toString();

t.test('the topmost layer that has the file wins', async (t) => {
  const dir = t.testdir();
  const bottom = await layer(join(dir, 'bottom'), { 'etc/passwd': 'old', 'etc/group': 'groups' });
  const top = await layer(join(dir, 'top'), { 'etc/passwd': 'new' });
  t.equal(await read([top, bottom], 'etc/passwd'), 'new');
  t.equal(await read([top, bottom], 'etc/group'), 'groups');
  t.equal(await read([top, bottom], 'etc/shadow'), undefined);
});

t.test('whiteouts, opaque directories and non-directories hide lower files', async (t) => {
  const dir = t.testdir();
  const bottom = await layer(join(dir, 'bottom'), { 'etc/passwd': 'old', 'etc/group': 'groups', 'srv/a': 'a' });
  t.equal(await read([await layer(join(dir, 'file'), { 'etc/.wh.passwd': '' }), bottom], 'etc/passwd'), undefined);
  t.equal(await read([await layer(join(dir, 'dir'), { '.wh.etc': '' }), bottom], 'etc/group'), undefined);
  t.equal(await read([await layer(join(dir, 'opaque'), { 'etc/.wh..wh..opq': '' }), bottom], 'etc/group'), undefined);
  t.equal(await read([await layer(join(dir, 'opaque-root'), { '.wh..wh..opq': '' }), bottom], 'srv/a'), undefined);
  t.equal(await read([await layer(join(dir, 'notdir'), { etc: 'a file now' }), bottom], 'etc/group'), undefined);
  t.equal(await read([await layer(join(dir, 'other'), { 'etc/.wh.motd': '' }), bottom], 'etc/group'), 'groups', 'other names stay');
});

t.test('a layer\'s own entries survive its whiteouts', async (t) => {
  const dir = t.testdir();
  const bottom = await layer(join(dir, 'bottom'), { 'etc/passwd': 'old', 'etc/group': 'groups' });
  const top = await layer(join(dir, 'top'), { '.wh.etc': '', 'etc/.wh..wh..opq': '', 'etc/passwd': 'new' });
  t.equal(await read([top, bottom], 'etc/passwd'), 'new');
  t.equal(await read([top, bottom], 'etc/group'), undefined, 'the opaque directory still hides what is only below');
});

t.test('symlinks are never followed; only regular files read', async (t) => {
  const dir = t.testdir();
  const host = await layer(join(dir, 'host'), { secret: 'host data' });
  const top = await layer(join(dir, 'top'), { 'etc/passwd': `-> ${join(host, 'secret')}`, 'link/': '' });
  const linkedDir = await layer(join(dir, 'linked-dir'), { etc: `-> ${host}` });
  t.equal(await read([top], 'etc/passwd'), undefined);
  t.equal(await read([linkedDir, host], 'etc/secret'), undefined);
  t.equal(await read([top], 'link'), undefined, 'a directory is not a file');
});

t.test('reading is capped', async (t) => {
  const dir = t.testdir();
  const big = await layer(join(dir, 'big'), { 'etc/passwd': 'x'.repeat(2000) });
  await t.rejects(readImageFile([big], 'etc/passwd', 1024), { code: 'E_TOO_LARGE' });
});

t.test('scanWhiteouts lists hidden names, opaque directories and the marker files', async (t) => {
  const dir = t.testdir();
  const root = await layer(join(dir, 'layer'), {
    '.wh.gone': '',
    'a/b/.wh.c': '',
    'a/.wh..wh..opq': '',
    'a/kept': 'x',
    'plain/file': 'y',
  });
  const found = await scanWhiteouts(root);
  t.same(found.hidden.sort(), ['a/b/c', 'gone']);
  t.same(found.opaqueDirs, ['a']);
  t.same(found.markers.sort(), ['.wh.gone', 'a/.wh..wh..opq', 'a/b/.wh.c']);
  t.same(await scanWhiteouts(await layer(join(dir, 'clean'), { 'x/y': 'z' })), { hidden: [], opaqueDirs: [], markers: [] });
});
