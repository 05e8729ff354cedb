import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { connectS3 } from '../../cli/src/lib/artifact-store/s3-client.js';

/**
 * s3rver's only account. It answers 403 InvalidAccessKeyId to any other access key id;
 * it does not check SigV4 signatures, so a wrong secret key alone is not refused.
 */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
export const S3RVER_REGION = 'us-east-1';

/** The CLI's environment with s3rver's credentials, reaching it as in CI: through the AWS SDK's default chain, nothing from this machine's AWS files. */
export const S3RVER_CLI_ENVIRONMENT: NodeJS.ProcessEnv = {
  ...process.env,
  AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
  AWS_CONFIG_FILE: '/nonexistent/aws-config',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
  AWS_EC2_METADATA_DISABLED: 'true',
};

export interface S3rverInstance {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  /** Where s3rver keeps buckets and objects on disk. */
  directory: string;
  stop(): Promise<void>;
}

const MAIN = fileURLToPath(new URL('./s3rver-main.mjs', import.meta.url));

async function waitUntilAnswering(endpoint: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await (await fetch(endpoint)).arrayBuffer();
      return;
    } catch (error) {
      if (attempt === 50) throw new Error(`s3rver at ${endpoint} does not answer`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * Starts a real S3 endpoint (s3rver) on 127.0.0.1 with a free port and a fresh directory,
 * with `buckets` created; stopped and removed at the end of `t`.
 */
export async function startS3rver(t: Test, buckets: readonly string[] = ['releases']): Promise<S3rverInstance> {
  const directory = await mkdtemp(join(tmpdir(), 'prtiql-s3rver-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', MAIN, JSON.stringify({ directory, buckets })], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    child.stdin.end();
    await exited;
    await rm(directory, { recursive: true, force: true });
  };
  t.teardown(stop);
  const lines = createInterface({ input: child.stdout });
  const firstLine = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code} before listening`)));
  });
  lines.close();
  const endpoint = `http://127.0.0.1:${(JSON.parse(firstLine) as { port: number }).port}`;
  await waitUntilAnswering(endpoint);
  return { endpoint, directory, stop };
}

/** An SDK client on the server, to look at what a store wrote without going through the store. */
export function s3rverClient(server: S3rverInstance): S3Client {
  return connectS3({ endpointUrl: server.endpoint, region: S3RVER_REGION, credentials: S3RVER_CREDENTIALS }).client;
}

/** Every key in the bucket, sorted. */
export async function listKeys(server: S3rverInstance, bucket = 'releases'): Promise<string[]> {
  const client = s3rverClient(server);
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((object) => object.Key!));
    token = page.NextContinuationToken;
  } while (token);
  return keys.sort();
}
