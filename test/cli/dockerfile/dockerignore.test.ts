import t from 'tap';
import { dockerignoreFilter } from '../../../cli/src/lib/dockerfile/dockerignore.js';

t.test('.dockerignore: patterns, directories, ** and exceptions, last match wins', async (t) => {
  const included = dockerignoreFilter([
    '# comment',
    '',
    '*.log',
    '/build',
    'docs/**/*.draft',
    'secrets/',
    '!secrets/public.pem',
    'node_modules',
    '.git',
  ].join('\n'));
  const cases: [string, boolean][] = [
    ['app.log', false],
    ['src/app.log', true],
    ['build', false],
    ['build/out/x', false],
    ['src/build', true],
    ['docs/a.draft', false],
    ['docs/deep/er/b.draft', false],
    ['docs/readme', true],
    ['secrets/key.pem', false],
    ['secrets/public.pem', true],
    ['node_modules/x/index.js', false],
    ['.git/config', false],
    ['.gitignore', true],
    ['Dockerfile', true],
  ];
  for (const [path, expected] of cases) t.equal(included(path), expected, path);
});

t.test('no rules include everything; * matches dotfiles but not across /', async (t) => {
  t.ok(dockerignoreFilter('')('anything/at/all'));
  const included = dockerignoreFilter('*\n!keep');
  t.notOk(included('.hidden'));
  t.ok(included('keep'));
  t.notOk(included('dir/file'), 'a parent that matches excludes its children');
});
