import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { findCredentials } from '../../../cli/src/lib/registry/credentials.js';

const basic = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64');

/** A real docker credential helper: a shell script that answers `get` for one server. */
async function writeHelper(bin: string, name: string, server: string, username: string, secret: string): Promise<void> {
  const script = `#!/bin/sh\n[ "$1" = get ] || exit 2\nread server\nif [ "$server" = "${server}" ]; then\n  printf '{"ServerURL":"%s","Username":"${username}","Secret":"${secret}"}' "$server"\nelse\n  echo "credentials not found in native keychain"\n  exit 1\nfi\n`;
  await writeFile(join(bin, `docker-credential-${name}`), script);
  await chmod(join(bin, `docker-credential-${name}`), 0o755);
}

t.test('auths entries match by host, with or without scheme and path; docker.io has its legacy key', async (t) => {
  const dir = t.testdir({});
  await mkdir(join(dir, '.docker'));
  await writeFile(
    join(dir, '.docker', 'config.json'),
    JSON.stringify({
      auths: {
        'https://registry.example:5000/v1/': { auth: basic('alice', 'pa:ss') },
        'https://index.docker.io/v1/': { auth: basic('hubuser', 'hubpass') },
        'ghcr.io': { identitytoken: 'refresh-me' },
        'quay.io': { username: 'bob', password: 'pw' },
      },
    }),
  );
  const env = { HOME: dir };
  t.match(await findCredentials('registry.example:5000', { env }), { username: 'alice', password: 'pa:ss', source: join(dir, '.docker', 'config.json') });
  t.match(await findCredentials('docker.io', { env }), { username: 'hubuser', password: 'hubpass' });
  t.match(await findCredentials('ghcr.io', { env }), { identityToken: 'refresh-me' });
  t.match(await findCredentials('quay.io', { env }), { username: 'bob', password: 'pw' });
  t.equal(await findCredentials('registry.example', { env }), undefined, 'the port is part of the host');
});

t.test('--authfile, then REGISTRY_AUTH_FILE, then $DOCKER_CONFIG/config.json', async (t) => {
  const dir = t.testdir({
    'flag.json': JSON.stringify({ auths: { 'a.example': { auth: basic('from-flag', 'x') } } }),
    'env.json': JSON.stringify({ auths: { 'a.example': { auth: basic('from-env', 'x') }, 'b.example': { auth: basic('from-env', 'y') } } }),
    docker: { 'config.json': JSON.stringify({ auths: { 'c.example': { auth: basic('from-docker-config', 'z') } } }) },
    'broken.json': '{not json',
  });
  const env = { HOME: join(dir, 'nowhere'), REGISTRY_AUTH_FILE: join(dir, 'env.json'), DOCKER_CONFIG: join(dir, 'docker') };
  t.equal((await findCredentials('a.example', { authFile: join(dir, 'flag.json'), env }))?.username, 'from-flag');
  t.equal((await findCredentials('a.example', { env }))?.username, 'from-env');
  t.equal((await findCredentials('b.example', { authFile: join(dir, 'flag.json'), env }))?.username, 'from-env', 'files are searched in turn');
  t.equal((await findCredentials('c.example', { env }))?.username, 'from-docker-config');
  await t.rejects(findCredentials('a.example', { authFile: join(dir, 'broken.json'), env }), { code: 'E_BAD_INPUT', message: /broken\.json is not a JSON object/ });
  await t.rejects(findCredentials('a.example', { env: { ...env, REGISTRY_AUTH_FILE: join(dir, 'gone.json') } }), { code: 'E_NOT_FOUND' });
});

t.test('credHelpers per registry and credsStore for the rest run docker-credential-* helpers', async (t) => {
  const dir = t.testdir({ bin: {}, docker: {} });
  const bin = join(dir, 'bin');
  await writeHelper(bin, 'special', 'helped.example', 'helper-user', 'helper-secret');
  await writeHelper(bin, 'store', 'https://index.docker.io/v1/', '<token>', 'hub-identity');
  await writeFile(
    join(dir, 'docker', 'config.json'),
    JSON.stringify({
      credHelpers: { 'helped.example': 'special', 'absent.example': 'not-installed' },
      credsStore: 'store',
      auths: { 'plain.example': { auth: basic('plain', 'pw') } },
    }),
  );
  const env = { HOME: dir, DOCKER_CONFIG: join(dir, 'docker') };
  const originalPath = process.env.PATH;
  process.env.PATH = `${bin}:${originalPath}`;
  t.teardown(() => {
    process.env.PATH = originalPath;
  });
  t.match(await findCredentials('helped.example', { env }), { username: 'helper-user', password: 'helper-secret', source: /docker-credential-special/ });
  t.match(await findCredentials('docker.io', { env }), { identityToken: 'hub-identity' }, 'Username <token> means an identity token');
  t.match(await findCredentials('plain.example', { env }), { username: 'plain' }, 'auths when the store does not know the registry');
  t.equal(await findCredentials('unknown.example', { env }), undefined);
  await t.rejects(findCredentials('absent.example', { env }), { code: 'E_NOT_FOUND', message: /docker-credential-not-installed .* is not installed/ });
});
