import { execFile } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { PrtiqlError } from '../../../../shared/errors.js';
import { readFileCapped } from '../../../../shared/capped-read.js';

/** What a registry login stored: a user and password, or an identity (refresh) token. */
export interface RegistryCredentials {
  username: string;
  password: string;
  /** Set when the login stored an OAuth2 refresh token instead of a password. */
  identityToken?: string;
  /** Where they were found, for messages (never the secret). */
  source: string;
}

export interface CredentialOptions {
  /** An auth file given on the command line (--authfile); it must exist. */
  authFile?: string;
  /** Environment to read REGISTRY_AUTH_FILE, DOCKER_CONFIG and HOME from; process.env by default. */
  env?: NodeJS.ProcessEnv;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface AuthFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

const DOCKER_HUB = 'docker.io';
/** The key `docker login` uses for Docker Hub in auths and when asking helpers. */
const DOCKER_HUB_SERVER = 'https://index.docker.io/v1/';
const DOCKER_HUB_KEYS: ReadonlySet<string> = new Set([DOCKER_HUB, 'index.docker.io', 'registry-1.docker.io']);
const HELPER_TIMEOUT_MS = 30_000;
const IDENTITY_TOKEN_USER = '<token>';

/** The registry host an auths key names: `https://host/v1/` and `host` are the same entry. */
function keyHost(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, '').split('/')[0];
  return DOCKER_HUB_KEYS.has(host) ? DOCKER_HUB : host;
}

/** Auth files in the order they are consulted: --authfile, REGISTRY_AUTH_FILE, docker's config.json. */
function authFiles(options: CredentialOptions): { path: string; required: boolean }[] {
  const env = options.env ?? process.env;
  const files: { path: string; required: boolean }[] = [];
  if (options.authFile) files.push({ path: options.authFile, required: true });
  if (env.REGISTRY_AUTH_FILE) files.push({ path: env.REGISTRY_AUTH_FILE, required: true });
  const dockerConfig = env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker');
  files.push({ path: join(dockerConfig, 'config.json'), required: false });
  return files;
}

/** Largest registry auth file read (Docker's config.json with its credentials). */
const MAX_AUTH_FILE_BYTES = 1024 * 1024;

async function readAuthFile(path: string, required: boolean): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = (await readFileCapped(path, MAX_AUTH_FILE_BYTES, `registry auth file ${path}`)).toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (required) throw new PrtiqlError('E_NOT_FOUND', `registry auth file ${path} does not exist`);
    return undefined;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as AuthFile;
  } catch {
    // reported below
  }
  throw new PrtiqlError('E_BAD_INPUT', `registry auth file ${path} is not a JSON object`);
}

function decodeEntry(entry: AuthEntry, source: string): RegistryCredentials | undefined {
  if (entry.identitytoken) return { username: '', password: '', identityToken: entry.identitytoken, source };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new PrtiqlError('E_BAD_INPUT', `${source}: the "auth" value is not base64 of user:password`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), source };
  }
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password, source };
  return undefined;
}

/** Asks `docker-credential-<helper> get` (the docker credential helper protocol). */
function askHelper(helper: string, registry: string, configPath: string): Promise<RegistryCredentials | undefined> {
  const program = `docker-credential-${helper}`;
  const server = registry === DOCKER_HUB ? DOCKER_HUB_SERVER : registry;
  return new Promise((resolve, reject) => {
    const child = execFile(program, ['get'], { timeout: HELPER_TIMEOUT_MS, encoding: 'utf8' }, (error, stdout) => {
      if ((error as NodeJS.ErrnoException | null)?.code === 'ENOENT') {
        reject(new PrtiqlError('E_NOT_FOUND', `credential helper ${program} named in ${configPath} is not installed`));
        return;
      }
      if (error) {
        if (/not found/i.test(stdout)) resolve(undefined);
        else reject(new PrtiqlError('E_UNAUTHORIZED', `credential helper ${program} failed for ${registry}: ${stdout.trim() || error.message}`));
        return;
      }
      try {
        const { Username, Secret } = JSON.parse(stdout) as { Username?: unknown; Secret?: unknown };
        if (typeof Username !== 'string' || typeof Secret !== 'string') throw new Error('no Username/Secret');
        const source = `${program} (${configPath})`;
        resolve(Username === IDENTITY_TOKEN_USER ? { username: '', password: '', identityToken: Secret, source } : { username: Username, password: Secret, source });
      } catch {
        reject(new PrtiqlError('E_BAD_INPUT', `credential helper ${program} printed no {"Username","Secret"} JSON for ${registry}`));
      }
    });
    child.stdin?.end(server);
  });
}

async function lookUp(file: AuthFile, registry: string, path: string): Promise<RegistryCredentials | undefined> {
  const helper = Object.entries(file.credHelpers ?? {}).find(([key]) => keyHost(key) === registry)?.[1] ?? file.credsStore;
  if (helper) {
    const fromHelper = await askHelper(helper, registry, path);
    if (fromHelper) return fromHelper;
  }
  const entry = Object.entries(file.auths ?? {}).find(([key]) => keyHost(key) === registry)?.[1];
  return entry ? decodeEntry(entry, path) : undefined;
}

/**
 * The credentials for `registry` (host[:port] as in references; docker.io for Docker Hub):
 * from --authfile, then REGISTRY_AUTH_FILE, then $DOCKER_CONFIG/config.json or
 * ~/.docker/config.json. In each file credHelpers[host], then credsStore, then auths.
 * The first file that knows the registry wins; undefined means anonymous access.
 */
export async function findCredentials(registry: string, options: CredentialOptions = {}): Promise<RegistryCredentials | undefined> {
  const host = keyHost(registry);
  for (const { path, required } of authFiles(options)) {
    const file = await readAuthFile(path, required);
    const credentials = file && (await lookUp(file, host, path));
    if (credentials) return credentials;
  }
  return undefined;
}

/** Where findCredentials looks, for the message when a registry wants credentials and none were found. */
export function credentialLocations(options: CredentialOptions = {}): string[] {
  return authFiles(options).map((file) => file.path);
}
