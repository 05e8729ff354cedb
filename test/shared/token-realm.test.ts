import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { openSource } from '../../applier/update/fetch/source.js';
import { RegistryAuth } from '../../cli/src/lib/registry/registry-auth.js';

interface Seen {
  path: string;
  host: string;
  authorization?: string;
}

/** A registry on 127.0.0.1 whose /v2/ asks for a bearer token from `realm(port)`; records every request. */
async function registry(t: Test, realm: (port: number) => string): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server: Server = createServer((request: IncomingMessage, response) => {
    seen.push({ path: new URL(request.url ?? '/', 'http://x').pathname, host: request.headers.host ?? '', authorization: request.headers.authorization });
    if (request.url?.startsWith('/token')) return void response.writeHead(401).end();
    response.writeHead(401, { 'www-authenticate': `Bearer realm="${realm((server.address() as AddressInfo).port)}",service="test"` }).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return { port: (server.address() as AddressInfo).port, seen };
}

const tokenRequests = (seen: Seen[]) => seen.filter((request) => request.path === '/token');

t.test('the applier sends registry credentials to a plain-HTTP token realm only on the registry host itself', async (t) => {
  process.env.PRTIQL_REGISTRY_USERNAME = 'device';
  process.env.PRTIQL_REGISTRY_PASSWORD = 'secret';
  t.teardown(() => {
    delete process.env.PRTIQL_REGISTRY_USERNAME;
    delete process.env.PRTIQL_REGISTRY_PASSWORD;
  });
  const fetchRelease = (port: number) => openSource(`docker://127.0.0.1:${port}/app`).fetch('channels/stable/release.json', { maxBytes: 1024 });

  const elsewhere = await registry(t, (port) => `http://localhost:${port}/token`);
  await t.rejects(fetchRelease(elsewhere.port), { code: 'E_UNAUTHORIZED', message: /plain HTTP on another host: its credentials are not sent there/ });
  t.same(tokenRequests(elsewhere.seen), [], 'the other host was never asked');

  const same = await registry(t, (port) => `http://127.0.0.1:${port}/token`);
  await t.rejects(fetchRelease(same.port), { code: 'E_UNAUTHORIZED' });
  t.match(tokenRequests(same.seen), [{ authorization: /^Basic / }], 'the registry host itself gets them');
});

t.test('the CLI follows the same rule', async (t) => {
  const dir = t.testdir();
  const check = async (realm: (port: number) => string) => {
    const served = await registry(t, realm);
    const host = `127.0.0.1:${served.port}`;
    const authFile = join(dir, `auth-${served.port}.json`);
    await writeFile(authFile, JSON.stringify({ auths: { [host]: { auth: Buffer.from('ci:secret').toString('base64') } } }));
    const auth = new RegistryAuth(host, { authFile, env: {} });
    auth.learn(`Bearer realm="${realm(served.port)}",service="test"`, ['repository:app:pull']);
    return { served, header: auth.header(['repository:app:pull']) };
  };
  const elsewhere = await check((port) => `http://localhost:${port}/token`);
  await t.rejects(elsewhere.header, { code: 'E_UNAUTHORIZED', message: /plain HTTP on another host/ });
  t.same(tokenRequests(elsewhere.served.seen), []);
  const same = await check((port) => `http://127.0.0.1:${port}/token`);
  await t.rejects(same.header, { code: 'E_UNAUTHORIZED', message: /refused the credentials/ });
  t.match(tokenRequests(same.served.seen), [{ authorization: /^Basic / }]);
});
