import t from 'tap';
import { applySettings, parseCommandLine, parseKeyValues } from '../../../cli/src/lib/build/settings-flags.js';

t.test('--entrypoint and --cmd take a JSON array or a single string', async (t) => {
  t.same(parseCommandLine('["/bin/sh","-c","echo hi"]', '--cmd'), ['/bin/sh', '-c', 'echo hi']);
  t.same(parseCommandLine('/bin/server', '--cmd'), ['/bin/server']);
  t.same(parseCommandLine('/bin/echo hello world', '--cmd'), ['/bin/echo hello world'], 'a string is one argument, not split');
  t.throws(() => parseCommandLine('[/bin/sh]', '--entrypoint'), { code: 'E_USAGE', message: /--entrypoint looks like a JSON array/ });
  t.throws(() => parseCommandLine('[1, 2]', '--cmd'), { code: 'E_USAGE', message: /--cmd must be a JSON array of strings/ });
});

t.test('KEY=VALUE flags: the first = splits, later keys win, a key is required', async (t) => {
  t.same(parseKeyValues(['A=1', 'B=x=y', 'A=2', 'EMPTY='], '--env'), { A: '2', B: 'x=y', EMPTY: '' });
  t.throws(() => parseKeyValues(['NOVALUE'], '--env'), { code: 'E_USAGE', message: /--env expects KEY=VALUE/ });
  t.throws(() => parseKeyValues(['=v'], '--label'), { code: 'E_USAGE' });
});

t.test('flags override a spec: scalars replace, env and labels merge', async (t) => {
  const spec = { layers: [{ directory: '/ctx' }], cmd: ['a'], user: 'root', env: { A: '1', B: '2' }, labels: { x: 'spec' } };
  t.same(applySettings(spec, { cmd: ['b'], env: { B: 'flag', C: '3' }, labels: { y: 'flag' } }), {
    layers: [{ directory: '/ctx' }],
    cmd: ['b'],
    user: 'root',
    env: { A: '1', B: 'flag', C: '3' },
    labels: { x: 'spec', y: 'flag' },
  });
  t.same(applySettings(spec, {}), spec);
});
