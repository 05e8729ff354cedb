import t from 'tap';
import { sourceUrl } from '../../../applier/commands/source-url.js';

t.test('a --source argument becomes an absolute URL; relative directories are read from the working directory', async (t) => {
  const cwd = '/var/lib/work dir';
  for (const [argument, url] of [
    ['releases', 'file:///var/lib/work%20dir/releases'],
    ['./releases/', 'file:///var/lib/work%20dir/releases'],
    ['../releases', 'file:///var/lib/releases'],
    ['/srv/releases', 'file:///srv/releases'],
    ['.', 'file:///var/lib/work%20dir'],
    ['file://./releases', 'file:///var/lib/work%20dir/releases'],
    ['file://./new%20releases', 'file:///var/lib/work%20dir/new%20releases'],
    ['FILE://../releases', 'file:///var/lib/releases'],
    ['file://..', 'file:///var/lib'],
    ['file:///srv/releases', 'file:///srv/releases'],
    ['file://localhost/srv/releases', 'file://localhost/srv/releases'],
    ['https://updates.example.com/store', 'https://updates.example.com/store'],
    ['docker://registry.example.com/acme/app', 'docker://registry.example.com/acme/app'],
  ]) {
    t.equal(sourceUrl(argument!, cwd), url, argument);
  }
  for (const argument of ['file:releases', 'file:/srv/releases', 'file://updates.example.com/releases', 'file://.releases', 'file://./bad%zz']) {
    t.throws(() => sourceUrl(argument, cwd), { code: 'E_USAGE' }, argument);
  }
});
