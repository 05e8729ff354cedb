import { STATUS_CODES } from 'node:http';
import { PrtiqlError } from '../../../../shared/errors.js';
import { errorCodeForStatus } from '../../../../shared/http-status.js';
import { attemptsNote } from '../network/retry-policy.js';

/** What was being done, for the message: the endpoint, the bucket, and an action such as "uploading blob sha256:...". */
export interface S3RequestContext {
  endpoint: string;
  bucket: string;
  action: string;
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

// Errors of the connection itself (Node's and the SDK's names for them), as opposed to an answer.
const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EPROTO',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);

function isConnectionError(error: SdkError): boolean {
  return (error.code !== undefined && CONNECTION_ERRORS.has(error.code)) || error.name === 'TimeoutError';
}

/** "403 InvalidAccessKeyId", "405 MethodNotAllowed", "403 Forbidden", "ECONNRESET": an error's short name. */
export function briefS3Error(error: unknown): string {
  const sdk = error as SdkError;
  if (error instanceof PrtiqlError) return error.code;
  const status = sdk.$metadata?.httpStatusCode;
  // Answers without a body (to HEAD) leave the SDK nothing but the status to name them by.
  if (status !== undefined) return `${status} ${sdk.name && sdk.name !== 'Unknown' ? sdk.name : STATUS_CODES[status]}`;
  return sdk.code ?? sdk.name ?? 'error';
}

function answerOf(error: SdkError): string {
  const message = error.message && error.message !== 'UnknownError' ? `: ${error.message}` : '';
  return `${briefS3Error(error)}${message}`;
}

/**
 * Turns what the AWS SDK throws into a one-line PrtiqlError naming the endpoint and bucket:
 * refused or dropped connections are E_NETWORK (retryable), 401/403 and missing credentials
 * E_UNAUTHORIZED, a missing bucket E_NOT_FOUND, other answers the code of their status
 * (shared/http-status.ts). PrtiqlErrors (a blob
 * failing its digest check while streaming) pass through; anything unrecognised is returned
 * as is and surfaces as an internal error.
 */
export function s3Failure(error: unknown, context: S3RequestContext): unknown {
  if (error instanceof PrtiqlError || typeof error !== 'object' || error === null) return error;
  const sdk = error as SdkError;
  const { endpoint, bucket, action } = context;
  const status = sdk.$metadata?.httpStatusCode;
  const attempts = attemptsNote(sdk.$metadata?.attempts ?? 1);
  if (isConnectionError(sdk)) {
    return new PrtiqlError('E_NETWORK', `cannot reach the S3 endpoint ${endpoint} while ${action}: ${sdk.message ?? sdk.code}${attempts}`, { cause: error });
  }
  if (sdk.message === 'Region is missing') {
    return new PrtiqlError('E_USAGE', `no AWS region is set for ${endpoint}: pass --region or set AWS_REGION`, { cause: error });
  }
  if (sdk.name === 'CredentialsProviderError') {
    return new PrtiqlError(
      'E_UNAUTHORIZED',
      `no AWS credentials found for ${endpoint}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE`,
      { cause: error },
    );
  }
  if (status === 401 || status === 403) {
    return new PrtiqlError(
      'E_UNAUTHORIZED',
      `the S3 endpoint ${endpoint} denied ${action} in bucket ${bucket} (${answerOf(sdk)}): check the AWS credentials and the bucket policy`,
      { cause: error },
    );
  }
  if (sdk.name === 'NoSuchBucket') {
    return new PrtiqlError('E_NOT_FOUND', `bucket ${bucket} does not exist at ${endpoint}`, { cause: error });
  }
  if (status !== undefined) {
    return new PrtiqlError(errorCodeForStatus(status), `the S3 endpoint ${endpoint} failed ${action} (${answerOf(sdk)})${attempts}`, { cause: error });
  }
  return error;
}
