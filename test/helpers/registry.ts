import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { freePort } from './free-port.js';
import { forward } from './http-forward.js';
import { listenLocally } from './local-server.js';
import { runTool } from './run.js';

/** Debian's docker-registry (distribution 2.8). */
export const REGISTRY_BINARY = '/usr/bin/docker-registry';
const SERVICE = 'prtiql-test-registry';
const ISSUER = 'prtiql-test-issuer';
const READY_TIMEOUT_MS = 15_000;

export interface RegistryUser {
  password: string;
  /** Token auth only: a refresh token the token server also accepts (OAuth2 refresh_token grant, POST). */
  identityToken?: string;
  /** Token auth only: the actions this user gets on every repository (default pull and push). */
  actions?: string[];
}

export interface RegistryOptions {
  /** htpasswd: Basic auth checked by the registry; token: Bearer tokens from a token server started here. */
  auth?: { kind: 'htpasswd' | 'token'; users: Record<string, RegistryUser> };
}

export interface TestRegistry {
  /** 127.0.0.1:<port> of a recording proxy in front of the registry: use it in docker:// references. */
  host: string;
  /** "METHOD /path?query" of every request the registry received, in order. Clear with `.length = 0`. */
  requests: string[];
  /** "METHOD /token?query" of every request the token server received (token auth only). */
  tokenRequests: string[];
  /** The registry's config.yml, for `docker-registry garbage-collect <config>` while it is stopped. */
  config: string;
  /** Stops the registry (the proxy stays); `start` starts it again on the same port and data. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Passes every request to `upstream` unchanged (Host included, so upload Locations point back here) and records it. */
async function startRecordingProxy(t: Test, upstream: string): Promise<{ port: number; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((incoming, outgoing) => {
    requests.push(`${incoming.method} ${incoming.url}`);
    forward(incoming, outgoing, new URL(incoming.url!, upstream));
  });
  return { port: await listenLocally(t, server), requests };
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function basicUser(request: IncomingMessage, users: Record<string, RegistryUser>): string | undefined | false {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const decoded = Buffer.from(header.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const name = decoded.slice(0, colon);
  return colon > 0 && users[name]?.password === decoded.slice(colon + 1) ? name : false;
}

/**
 * A token server as the distribution auth spec describes: Basic credentials (GET) or a refresh
 * token (POST) in, an ES256 JWT out whose x5c certificate the registry trusts (rootcertbundle).
 * Anonymous callers get a token with no access; wrong credentials get 401.
 */
async function startTokenServer(t: Test, dir: string, users: Record<string, RegistryUser>) {
  const keyPath = join(dir, 'token-key.pem');
  const certPath = join(dir, 'token-cert.pem');
  await runTool('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=prtiql test token issuer', '-keyout', keyPath, '-out', certPath]);
  const key = createPrivateKey(await readFile(keyPath));
  const certificate = new X509Certificate(await readFile(certPath));
  const requests: string[] = [];
  const server = createServer(async (request: IncomingMessage, response: ServerResponse) => {
    requests.push(`${request.method} ${request.url}`);
    let body = '';
    for await (const chunk of request) body += String(chunk);
    const url = new URL(request.url!, 'http://token');
    const form = new URLSearchParams(body);
    const refreshed = request.method === 'POST' && form.get('grant_type') === 'refresh_token';
    const user = refreshed ? Object.keys(users).find((name) => users[name].identityToken === form.get('refresh_token')) ?? false : basicUser(request, users);
    if (user === false) {
      response.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"invalid credentials"}');
      return;
    }
    const scopes = refreshed ? (form.get('scope') ?? '').split(' ').filter(Boolean) : url.searchParams.getAll('scope');
    const service = refreshed ? form.get('service') : url.searchParams.get('service');
    const access = user === undefined ? [] : scopes.flatMap((scope) => {
      const [type, name, actions] = scope.split(':');
      const allowed = users[user].actions ?? ['pull', 'push'];
      return [{ type, name, actions: actions.split(',').filter((action) => allowed.includes(action)) }];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certificate.raw.toString('base64')] };
    const claims = { iss: ISSUER, sub: user ?? '', aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access };
    const signed = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(signed), { key, dsaEncoding: 'ieee-p1363' });
    const token = `${signed}.${base64url(signature)}`;
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
  });
  return { realm: `http://127.0.0.1:${await listenLocally(t, server)}/token`, certPath, requests };
}

async function authConfig(t: Test, dir: string, auth: RegistryOptions['auth']): Promise<{ yaml: string; tokenRequests: string[] }> {
  if (!auth) return { yaml: '', tokenRequests: [] };
  if (auth.kind === 'htpasswd') {
    const path = join(dir, 'htpasswd');
    const lines = [];
    for (const [name, user] of Object.entries(auth.users)) lines.push((await runTool('htpasswd', ['-nbB', name, user.password])).trim());
    await writeFile(path, `${lines.join('\n')}\n`);
    return { yaml: `auth:\n  htpasswd:\n    realm: prtiql-test\n    path: ${path}\n`, tokenRequests: [] };
  }
  const token = await startTokenServer(t, dir, auth.users);
  return {
    yaml: `auth:\n  token:\n    realm: ${token.realm}\n    service: ${SERVICE}\n    issuer: ${ISSUER}\n    rootcertbundle: ${token.certPath}\n`,
    tokenRequests: token.requests,
  };
}

async function waitUntilReady(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${log()}`);
    try {
      const response = await fetch(url);
      if (response.status === 200 || response.status === 401) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`docker-registry did not answer ${url} within ${READY_TIMEOUT_MS} ms: ${log()}`);
}

/**
 * Starts a real docker-registry on 127.0.0.1 (filesystem storage in a temp dir, deletes
 * enabled, optional htpasswd or token auth) behind a recording proxy, and stops both at teardown.
 */
export async function startRegistry(t: Test, options: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'prtiql-registry-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  const auth = await authConfig(t, dir, options.auth);
  const config = join(dir, 'config.yml');
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${auth.yaml}`,
  );
  let child: ChildProcess | undefined;
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGTERM');
    await exited;
  };
  const start = async () => {
    const started = spawn(REGISTRY_BINARY, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = started;
    let stderr = '';
    started.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
    await waitUntilReady(`http://127.0.0.1:${port}/v2/`, started, () => stderr);
  };
  t.teardown(stop);
  await start();
  const proxy = await startRecordingProxy(t, `http://127.0.0.1:${port}`);
  return { host: `127.0.0.1:${proxy.port}`, requests: proxy.requests, tokenRequests: auth.tokenRequests, config, stop, start };
}

/** Writes a docker config.json with `auths` for `host` and returns its path. */
export async function writeAuthFile(dir: string, host: string, username: string, password: string): Promise<string> {
  const path = join(dir, `auth-${randomUUID()}.json`);
  await writeFile(path, JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${username}:${password}`).toString('base64') } } }));
  return path;
}
