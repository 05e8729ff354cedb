import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Test } from 'tap';
import type { ArtifactStore } from '../../cli/src/lib/artifact-store/artifact-store.js';
import { FileStore } from '../../cli/src/lib/artifact-store/file-store.js';
import { openStore } from '../../cli/src/lib/artifact-store/open-store.js';
import { startRegistry } from './registry.js';
import { s3rverEnvironment, S3RVER_CREDENTIALS, S3RVER_REGION, startS3rver } from './s3rver.js';

/** One kind of artifact store, real: where the CLI writes, how devices read it, and the store to look into it. */
export interface StoreUnderTest {
  kind: 'directory' | 's3' | 'registry';
  url: string;
  /** The CLI's connection flags for it. */
  cliArgs: string[];
  env: NodeJS.ProcessEnv;
  /** `applier update --source`. */
  deviceSource: string;
  store: ArtifactStore;
  /** "METHOD /path" of every request a registry received. */
  requests?: string[];
}

/** A directory store in `parent`. */
export function directoryStore(parent: string): StoreUnderTest {
  const root = join(parent, 'store');
  return { kind: 'directory', url: root, cliArgs: [], env: process.env, deviceSource: pathToFileURL(root).href, store: new FileStore(resolve(root)) };
}

/** A bucket prefix on a real S3 endpoint (s3rver), read by devices over plain HTTP. */
export async function s3Store(t: Test): Promise<StoreUnderTest> {
  const server = await startS3rver(t);
  const url = 's3://releases/fleet';
  return {
    kind: 's3',
    url,
    cliArgs: ['--endpoint-url', server.endpoint, '--region', S3RVER_REGION],
    env: s3rverEnvironment(),
    deviceSource: `${server.endpoint}/releases/fleet`,
    store: await openStore(url, { endpointUrl: server.endpoint, region: S3RVER_REGION, credentials: S3RVER_CREDENTIALS }),
  };
}

/** A repository of a real docker-registry (deletes enabled, no auth). */
export async function registryStore(t: Test): Promise<StoreUnderTest> {
  const registry = await startRegistry(t);
  const url = `docker://${registry.host}/fleet/app`;
  return { kind: 'registry', url, cliArgs: [], env: process.env, deviceSource: url, store: await openStore(url), requests: registry.requests };
}
