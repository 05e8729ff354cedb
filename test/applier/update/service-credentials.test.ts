import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { registryCredentials } from '../../../applier/update/fetch/registry-source.js';
import { serviceCredential } from '../../../applier/update/fetch/service-credentials.js';
import { openSource } from '../../../applier/update/fetch/source.js';

t.test('a service credential is the file of that name in $CREDENTIALS_DIRECTORY, when there is one', async (t) => {
  const dir = t.testdir({ 'registry-password': 's3cret\n', 'two-lines': 'a\nb\n\n', big: 'x'.repeat(64 * 1024 + 1), sub: {} });
  const env = { CREDENTIALS_DIRECTORY: dir };
  t.equal(serviceCredential(env, 'registry-password'), 's3cret', 'the line break at the end is not part of it');
  t.equal(serviceCredential(env, 'two-lines'), 'a\nb\n');
  t.equal(serviceCredential(env, 'absent'), undefined);
  t.equal(serviceCredential({}, 'registry-password'), undefined, 'no credentials without the directory');
  t.throws(() => serviceCredential(env, 'sub'), { code: 'E_USAGE', message: /credential .*\/sub is not a regular file/ });
  t.throws(() => serviceCredential(env, 'big'), { code: 'E_TOO_LARGE', message: /credential .*\/big is larger than the 65536-byte limit/ });
});

t.test('registry credentials: the environment first, else both service credentials', async (t) => {
  const dir = t.testdir({ both: { 'registry-username': 'device-7\n', 'registry-password': 'pull-token\n' }, half: { 'registry-username': 'device-7' } });
  const stored = { CREDENTIALS_DIRECTORY: join(dir, 'both') };
  t.same(registryCredentials(stored), { username: 'device-7', password: 'pull-token' });
  t.same(registryCredentials({ ...stored, PRTIQL_REGISTRY_USERNAME: 'env-user', PRTIQL_REGISTRY_PASSWORD: 'env-pass' }), { username: 'env-user', password: 'env-pass' });
  t.equal(registryCredentials({ CREDENTIALS_DIRECTORY: join(dir, 'half') }), undefined, 'a username without a password is none');
  t.equal(registryCredentials({}), undefined);
});

t.test('an http source sends the source-authorization credential, unless --auth-file gave one', async (t) => {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((request, response) => {
    seen.push(request.headers);
    response.writeHead(200).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/store`;
  const credentials = join(t.testdir(), 'credentials');
  await mkdir(credentials);
  const before = process.env.CREDENTIALS_DIRECTORY;
  process.env.CREDENTIALS_DIRECTORY = credentials;
  t.teardown(() => {
    if (before === undefined) delete process.env.CREDENTIALS_DIRECTORY;
    else process.env.CREDENTIALS_DIRECTORY = before;
  });
  const fetchRelease = async (options = {}) => {
    const fetched = await openSource(url, { retry: { retries: 0 }, ...options }).fetch('channels/stable/release.json', { maxBytes: 16 });
    for await (const chunk of fetched.body) void chunk;
  };

  await fetchRelease();
  t.equal(seen.at(-1)?.authorization, undefined, 'no credential, no header');
  await writeFile(join(credentials, 'source-authorization'), 'Bearer device-token\n');
  await fetchRelease();
  t.equal(seen.at(-1)?.authorization, 'Bearer device-token');
  await fetchRelease({ authorization: 'Bearer from-auth-file' });
  t.equal(seen.at(-1)?.authorization, 'Bearer from-auth-file');
  await writeFile(join(credentials, 'source-authorization'), '\n');
  t.throws(() => openSource(url), { code: 'E_USAGE', message: 'credential source-authorization must hold one Authorization header value on its first line' });
});
