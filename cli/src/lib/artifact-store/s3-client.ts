import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { PrtiqlError } from '../../../../shared/errors.js';
import { proxyAgents, type ProxyAgents } from '../../../../shared/proxy-agents.js';
import { proxySettingsFromEnv } from '../../../../shared/proxy-env.js';
import { retryPolicyFromEnv, type RetryPolicy } from '../network/retry-policy.js';
import { S3RetryStrategy } from './s3-retry.js';

/** How to reach S3 or an S3-compatible service. Unset fields come from the AWS SDK's default chain. */
export interface S3ConnectionOptions {
  /** http(s) URL of an S3-compatible endpoint (MinIO, Ceph, s3rver...); AWS S3 when absent. */
  endpointUrl?: string;
  /** Signing region; else AWS_REGION or the profile's region. */
  region?: string;
  /** Address buckets as <endpoint>/<bucket>/<key>; defaults to true for a non-AWS endpoint. */
  forcePathStyle?: boolean;
  /** Explicit credentials; else the default chain (AWS_ACCESS_KEY_ID..., AWS_PROFILE, SSO, instance roles). */
  credentials?: S3ClientConfig['credentials'];
  /** How transient failures are retried; by default DEFAULT_RETRY_POLICY with PRTIQL_RETRY_* from the environment. */
  retry?: RetryPolicy;
}

/**
 * Bounds on one request, so that a dead endpoint fails within seconds to minutes, never hours:
 * 10 s to connect and 60 s without a byte moving on an open connection; attempts as the retry
 * policy says (S3RetryStrategy).
 */
export const S3_REQUEST_LIMITS = { connectionTimeoutMs: 10_000, idleTimeoutMs: 60_000 } as const;

export interface S3Connection {
  client: S3Client;
  /** The endpoint, for messages: the URL given, or "AWS S3". */
  endpoint: string;
}

function isAwsHost(hostname: string): boolean {
  return /(^|\.)amazonaws\.com(\.cn)?$/i.test(hostname);
}

function parseEndpoint(endpointUrl: string): URL {
  let url: URL;
  try {
    url = new URL(endpointUrl);
  } catch {
    throw new PrtiqlError('E_USAGE', `S3 endpoint ${JSON.stringify(endpointUrl)} is not a URL: use http(s)://<host>[:<port>]`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new PrtiqlError('E_USAGE', `S3 endpoint ${JSON.stringify(endpointUrl)} is not an http(s) URL`);
  }
  return url;
}

/** Agents that honour HTTPS_PROXY / HTTP_PROXY / NO_PROXY, when the environment names a proxy; else the SDK's own. */
function s3ProxyAgents(): Partial<ProxyAgents> {
  const settings = proxySettingsFromEnv(process.env);
  // The SDK's own agents keep connections alive, 50 per host: so do these.
  return settings.http || settings.https ? proxyAgents(settings, { keepAlive: true, maxSockets: 50 }) : {};
}

export function connectS3(options: S3ConnectionOptions): S3Connection {
  const endpoint = options.endpointUrl === undefined ? undefined : parseEndpoint(options.endpointUrl);
  const aws = endpoint === undefined || isAwsHost(endpoint.hostname);
  const retry = options.retry ?? retryPolicyFromEnv(process.env);
  // The SDK warns on every run under Node 20 that releases after January 2027 will need
  // Node 22; the version is pinned, and the warning would break one-line error output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new S3Client({
    ...(options.endpointUrl !== undefined && { endpoint: options.endpointUrl }),
    ...(options.region !== undefined && { region: options.region }),
    ...(options.credentials !== undefined && { credentials: options.credentials }),
    forcePathStyle: options.forcePathStyle ?? !aws,
    // S3-compatible services often mishandle the SDK's default CRC checksums with streamed
    // (aws-chunked) bodies and store them corrupted; AWS itself handles them.
    ...(!aws && { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }),
    maxAttempts: retry.attempts,
    retryStrategy: new S3RetryStrategy(retry),
    requestHandler: { connectionTimeout: S3_REQUEST_LIMITS.connectionTimeoutMs, socketTimeout: S3_REQUEST_LIMITS.idleTimeoutMs, ...s3ProxyAgents() },
  });
  return { client, endpoint: options.endpointUrl ?? 'AWS S3' };
}
