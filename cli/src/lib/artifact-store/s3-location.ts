import { PrtiqlError } from '../../../../shared/errors.js';

/** Where an S3 artifact store lives: every key starts with `prefix/` (or nothing, for the bucket root). */
export interface S3Location {
  bucket: string;
  /** '' or segments joined by '/', without leading or trailing '/'. */
  prefix: string;
}

export const S3_URL_FORM = 's3://<bucket>[/<prefix>]';

// The AWS bucket naming rules; S3-compatible services accept a subset of what AWS allows.
const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function refuse(url: string, why: string): never {
  throw new PrtiqlError('E_BAD_REFERENCE', `store URL ${JSON.stringify(url)} ${why}: use ${S3_URL_FORM}`);
}

/** Parses `s3://<bucket>[/<prefix>]`; the scheme is case-insensitive, a trailing '/' is ignored. */
export function parseS3Url(url: string): S3Location {
  if (!/^s3:\/\//i.test(url)) refuse(url, 'is not an s3:// URL');
  const rest = url.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const prefix = slash === -1 ? '' : rest.slice(slash + 1).replace(/\/$/, '');
  if (!bucket) refuse(url, 'names no bucket');
  if (!BUCKET_PATTERN.test(bucket) || bucket.includes('..')) {
    refuse(url, `names an invalid bucket ${JSON.stringify(bucket)} (3-63 lowercase letters, digits, '.' or '-')`);
  }
  // Keys are also URL paths for devices downloading over HTTP: segments that a client
  // would normalise away ('', '.', '..') would make the two disagree.
  if (prefix && prefix.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    refuse(url, "has an empty, '.' or '..' segment in its prefix");
  }
  if (/[\u0000-\u001f\u007f]/.test(prefix)) refuse(url, 'has a control character in its prefix');
  return { bucket, prefix };
}

/** The object key of a store-relative path (shared/store-layout.ts). */
export function s3Key(location: S3Location, path: string): string {
  return location.prefix ? `${location.prefix}/${path}` : path;
}

export function formatS3Url(location: S3Location, path?: string): string {
  const key = path === undefined ? location.prefix : s3Key(location, path);
  return key ? `s3://${location.bucket}/${key}` : `s3://${location.bucket}`;
}
