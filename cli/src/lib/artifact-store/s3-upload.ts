import { AbortMultipartUploadCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable, pipeline } from 'node:stream';
import { PrtiqlError } from '../../../../shared/errors.js';
import { VerifyingStream, type Expected } from '../../../../shared/verify-stream.js';
import { briefS3Error } from './s3-errors.js';

/**
 * Memory bound of one upload (docs/artifact-store.md): lib-storage cuts the stream into
 * parts of PART_SIZE bytes and sends PARTS_IN_FLIGHT of them at once, so it holds at most
 * about (PARTS_IN_FLIGHT + 2) x PART_SIZE = 48 MiB: the parts being sent, the one being
 * filled, and the remainder of the last cut. Blobs above 10,000 parts get larger parts.
 */
export const PART_SIZE = 8 * 1024 * 1024;
export const PARTS_IN_FLIGHT = 4;
const MAX_PARTS = 10_000;

export interface VerifiedUploadRequest {
  bucket: string;
  key: string;
  expected: Expected;
  /** Names the bytes in mismatch messages, e.g. "blob sha256:...". */
  what: string;
  source: AsyncIterable<Uint8Array>;
  contentType: string;
  cacheControl: string;
}

/**
 * Streams verified bytes to an S3 object through lib-storage (one PUT, or a multipart upload
 * for blobs above PART_SIZE), with one guarantee: an object appears under its key only with
 * exactly the expected bytes. The bytes pass a VerifyingStream on their way in, and
 * lib-storage sends the request that makes the object visible (the single PUT, or
 * CompleteMultipartUpload) only after the stream has ended, which it does only after the
 * size and sha256 were found right. On any failure (a mismatch, the source failing, a part
 * failing after the SDK's retries) the multipart upload is aborted, so its parts do not
 * linger. Errors come back as the SDK or the verifier threw them.
 */
export async function uploadVerified(client: S3Client, request: VerifiedUploadRequest): Promise<void> {
  const { bucket, key, expected } = request;
  const body = new VerifyingStream(expected, request.what);
  // A failing source destroys `body` with its error, which the upload then reports.
  pipeline(Readable.from(request.source), body, () => undefined);
  const upload = new Upload({
    client,
    params: { Bucket: bucket, Key: key, Body: body, ContentLength: expected.size, ContentType: request.contentType, CacheControl: request.cacheControl },
    partSize: Math.max(PART_SIZE, Math.ceil(expected.size / MAX_PARTS)),
    queueSize: PARTS_IN_FLIGHT,
    // lib-storage's own abort would replace the upload's error with the abort's: done below.
    leavePartsOnError: true,
  });
  try {
    await upload.done();
  } catch (error) {
    if (upload.uploadId === undefined) throw error;
    throw await abortMultipartUpload(client, bucket, key, upload.uploadId, error);
  } finally {
    body.destroy();
  }
}

/** Aborts a failed multipart upload; returns the upload's error, noting when the abort failed too. */
async function abortMultipartUpload(client: S3Client, bucket: string, key: string, uploadId: string, error: unknown): Promise<unknown> {
  try {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
    return error;
  } catch (abortError) {
    const note = `; aborting its multipart upload failed too (${briefS3Error(abortError)}): its parts stay until a bucket lifecycle rule removes them`;
    if (error instanceof PrtiqlError) return new PrtiqlError(error.code, `${error.message}${note}`, { cause: error });
    if (error instanceof Error) error.message += note;
    return error;
  }
}
