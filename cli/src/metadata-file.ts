import { Flags } from '@oclif/core';
import { access, constants, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { PrtiqlError } from '../../shared/errors.js';

/** --metadata-file: every command's result, for later CI steps. */
export const metadataFileFlag = Flags.string({ description: 'Also write the result, as --json prints it, to this file (for later CI steps).', helpGroup: 'GLOBAL' });

const DISK_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS']);

function failure(path: string, error: unknown): PrtiqlError {
  const code = (error as NodeJS.ErrnoException).code ?? String(error);
  return new PrtiqlError(DISK_ERRORS.has(code) ? 'E_DISK' : 'E_USAGE', `cannot write the metadata file ${path}: ${code}`);
}

/** Fails now, before any work, when the metadata file's directory cannot be written. */
export async function checkMetadataFile(path: string | undefined): Promise<void> {
  if (path === undefined) return;
  try {
    await access(dirname(resolve(path)), constants.W_OK);
  } catch (error) {
    throw failure(path, error);
  }
}

export async function writeMetadataFile(path: string | undefined, result: unknown): Promise<void> {
  if (path === undefined) return;
  try {
    await writeFile(path, `${JSON.stringify(result, null, 2)}\n`);
  } catch (error) {
    throw failure(path, error);
  }
}
