import t from 'tap';
import { proxyFor, proxySettingsFromEnv } from '../../shared/proxy-env.js';

const through = (target: string, env: NodeJS.ProcessEnv) => proxyFor(new URL(target), proxySettingsFromEnv(env))?.href;

t.test('the proxy of a URL: https_proxy for https, http_proxy for http, lower case first', async (t) => {
  t.equal(through('https://registry.example/v2/', { HTTPS_PROXY: 'http://upper:3128' }), 'http://upper:3128/');
  t.equal(through('https://registry.example/v2/', { https_proxy: 'http://lower:3128', HTTPS_PROXY: 'http://upper:3128' }), 'http://lower:3128/');
  t.equal(through('http://registry.example/v2/', { HTTPS_PROXY: 'http://upper:3128' }), undefined, 'an https proxy is not used for http');
  t.equal(through('http://registry.example/v2/', { http_proxy: 'proxy.corp:8080' }), 'http://proxy.corp:8080/', 'host:port without a scheme is http://');
  t.equal(through('http://registry.example/', {}), undefined);
  t.throws(() => proxySettingsFromEnv({ https_proxy: 'socks5://proxy:1080' }), { code: 'E_USAGE', message: /only http:\/\/ proxies/ });
});

t.test('NO_PROXY as curl reads it', async (t) => {
  const env = (noProxy: string) => ({ HTTPS_PROXY: 'http://proxy:3128', HTTP_PROXY: 'http://proxy:3128', NO_PROXY: noProxy });
  const direct = (target: string, noProxy: string) => through(target, env(noProxy)) === undefined;
  t.ok(direct('https://example.com/', 'example.com'), 'the name itself');
  t.ok(direct('https://registry.example.com/', 'example.com'), 'a name under it');
  t.ok(direct('https://registry.example.com/', '.example.com'), 'a leading dot');
  t.ok(direct('https://example.com/', '.example.com'), 'a leading dot matches the name itself too');
  t.ok(direct('https://registry.example.com/', '*.example.com'));
  t.notOk(direct('https://notexample.com/', 'example.com'), 'not a name that merely ends the same');
  t.ok(direct('https://REGISTRY.Example.COM/', 'example.com'), 'case does not matter');
  t.ok(direct('https://anything/', '*'));
  t.ok(direct('http://127.0.0.1:5000/', 'localhost, 127.0.0.1'), 'a list, spaces allowed');
  t.ok(direct('http://10.1.2.3/', '10.0.0.0/8'), 'a CIDR block');
  t.notOk(direct('http://11.1.2.3/', '10.0.0.0/8'));
  t.ok(direct('http://[::1]:5000/', '::1'), 'an IPv6 address');
  t.ok(direct('http://[fd00::5]/', 'fd00::/8'));
  t.ok(direct('http://example.com:8080/', 'example.com:8080'), 'a port');
  t.notOk(direct('http://example.com/', 'example.com:8080'), 'another port goes through the proxy');
  t.notOk(direct('http://127.0.0.1/', ''), 'empty: everything goes through the proxy');
  t.ok(through('http://127.0.0.1/', { HTTP_PROXY: 'http://proxy:3128', no_proxy: '127.0.0.1', NO_PROXY: '' }) === undefined, 'lower case no_proxy first');
});
