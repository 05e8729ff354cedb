import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { PassThrough, type Readable } from 'node:stream';
import { readCapped } from '../../../../shared/capped-read.js';
import type { Digest } from '../../../../shared/digest.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { openBlobSource, type ArtifactStore, type BlobSource } from './artifact-store.js';
import { connectS3, type S3ConnectionOptions } from './s3-client.js';
import { s3Failure } from './s3-errors.js';
import { formatS3Url, s3Key, type S3Location } from './s3-location.js';
import { uploadVerified } from './s3-upload.js';
import { MAX_DOCUMENT_BYTES } from '../../../../shared/limits.js';
import { BLOB_DIRECTORY, blobPath, documentPath, parseBlobPath, parseDocumentPath, type StoreDocument } from '../../../../shared/store-layout.js';

/** Blob uploads one store runs at once, whatever its callers do; each sends up to PARTS_IN_FLIGHT parts. */
export const BLOB_UPLOADS_AT_ONCE = 2;

// Blobs never change under their name; the pointer must be fetched fresh by every device.
const BLOB_CACHE_CONTROL = 'public, max-age=31536000, immutable';
const POINTER_CACHE_CONTROL = 'no-cache';

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

function isMissingObject(error: unknown): boolean {
  const name = (error as { name?: string }).name;
  // HEAD answers have no body, so a missing key is a bare 404 ("NotFound").
  return name === 'NoSuchKey' || (name === 'NotFound' && statusOf(error) === 404);
}

/**
 * An artifact store in an S3 bucket (docs/artifact-store.md), with the directory store's
 * layout under a key prefix: `<prefix>/blobs/sha256/<hex>` and
 * `<prefix>/channels/<channel>/release.json`. The bucket can serve devices over HTTP directly.
 */
export class S3Store implements ArtifactStore {
  readonly endpoint: string;
  private readonly client: S3Client;
  private readonly uploadSlots = pLimit(BLOB_UPLOADS_AT_ONCE);

  constructor(
    readonly s3Location: S3Location,
    connection: S3ConnectionOptions = {},
  ) {
    const { client, endpoint } = connectS3(connection);
    this.client = client;
    this.endpoint = endpoint;
  }

  get location(): string {
    return formatS3Url(this.s3Location);
  }

  documentLocation(document: StoreDocument): string {
    return formatS3Url(this.s3Location, documentPath(document));
  }

  private key(path: string): string {
    return s3Key(this.s3Location, path);
  }

  private failure(error: unknown, action: string): unknown {
    return s3Failure(error, { endpoint: this.endpoint, bucket: this.s3Location.bucket, action });
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.s3Location.bucket, Key: this.key(blobPath(digest)) }));
      return true;
    } catch (error) {
      if (isMissingObject(error)) return false;
      throw this.failure(error, `checking for blob ${digest}`);
    }
  }

  /**
   * Uploads a blob the bucket lacks (HEAD first). Bytes are verified while they stream and
   * the object becomes visible only once they proved right (uploadVerified). Two writers of
   * one blob at once both write the same verified bytes, so the race is harmless.
   */
  putBlob(digest: Digest, size: number, source: BlobSource): Promise<boolean> {
    return this.uploadSlots(() => this.uploadIfMissing(digest, size, source));
  }

  private async uploadIfMissing(digest: Digest, size: number, source: BlobSource): Promise<boolean> {
    if (await this.hasBlob(digest)) return false;
    try {
      await uploadVerified(this.client, {
        bucket: this.s3Location.bucket,
        key: this.key(blobPath(digest)),
        expected: { digest, size },
        what: `blob ${digest}`,
        source: await openBlobSource(source),
        contentType: 'application/octet-stream',
        cacheControl: BLOB_CACHE_CONTROL,
      });
    } catch (error) {
      throw this.failure(error, `uploading blob ${digest}`);
    }
    return true;
  }

  async getBlob(digest: Digest): Promise<Readable> {
    const action = `reading blob ${digest}`;
    let body: Readable;
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.s3Location.bucket, Key: this.key(blobPath(digest)) }));
      body = response.Body as Readable;
    } catch (error) {
      if (isMissingObject(error)) throw new PrtiqlError('E_NOT_FOUND', `blob ${digest} is not in the store ${this.location}`);
      throw this.failure(error, action);
    }
    // The connection can still fail mid-body: such errors get the same one-line form.
    const out = new PassThrough();
    body.on('error', (error) => out.destroy(this.failure(error, action) as Error));
    out.on('close', () => body.destroy());
    return body.pipe(out);
  }

  async readDocument(document: StoreDocument): Promise<Buffer | undefined> {
    const location = this.documentLocation(document);
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.s3Location.bucket, Key: this.key(documentPath(document)) }));
      return await readCapped(response.Body as Readable, MAX_DOCUMENT_BYTES, location);
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      throw this.failure(error, `reading ${location}`);
    }
  }

  /** One PUT: S3 replaces an object atomically, so readers get the old or the new release. */
  async writeDocument(document: StoreDocument, bytes: Uint8Array): Promise<void> {
    const location = this.documentLocation(document);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.s3Location.bucket,
          Key: this.key(documentPath(document)),
          Body: bytes,
          ContentType: 'application/json',
          CacheControl: POINTER_CACHE_CONTROL,
        }),
      );
    } catch (error) {
      throw this.failure(error, `writing ${location}`);
    }
  }

  /** The store paths of every object under `directory` (store-relative, no trailing '/'). */
  private async pathsUnder(directory: string): Promise<string[]> {
    const prefix = `${this.key(directory)}/`;
    const storeRoot = this.key('');
    const paths: string[] = [];
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.s3Location.bucket, Prefix: prefix, ContinuationToken: token }));
      } catch (error) {
        throw this.failure(error, `listing ${formatS3Url(this.s3Location, directory)}`);
      }
      for (const object of page.Contents ?? []) if (object.Key) paths.push(object.Key.slice(storeRoot.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return paths;
  }

  async listBlobs(): Promise<Digest[]> {
    return (await this.pathsUnder(BLOB_DIRECTORY)).flatMap((path) => parseBlobPath(path) ?? []);
  }

  async listDocuments(): Promise<StoreDocument[]> {
    const paths = [...(await this.pathsUnder('channels')), ...(await this.pathsUnder('roots')), ...(await this.pathsUnder('deltas'))];
    return paths.flatMap((path) => parseDocumentPath(path) ?? []);
  }

  /** One DELETE; S3 answers a missing key with success too. */
  private async deleteObject(path: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.s3Location.bucket, Key: this.key(path) }));
    } catch (error) {
      throw this.failure(error, `deleting ${formatS3Url(this.s3Location, path)}`);
    }
  }

  deleteBlob(digest: Digest): Promise<void> {
    return this.deleteObject(blobPath(digest));
  }

  deleteDocument(document: StoreDocument): Promise<void> {
    return this.deleteObject(documentPath(document));
  }
}
