import { closeSync, fstatSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import {
  LAYER_META_PREFIX_BYTES,
  layerMetaIndexLength,
  layerMetaIndexText,
  layerMetaPrefix,
  parseLayerMetaIndex,
  type LayerMeta,
} from '../../shared/layer-meta.js';
import { PrtiqlError } from '../../shared/errors.js';
import { readAllSync, syncHandle, writeAll } from '../../filesystem/durable.js';

const COPY_CHUNK_BYTES = 256 * 1024;

/** Writes `<layer>.meta`: the prefix, the index in pieces and the skeleton file's bytes, fsynced. */
export async function writeLayerMetaFile(path: string, meta: LayerMeta, skeletonPath: string): Promise<void> {
  const output = await open(path, 'wx', 0o600);
  const skeleton = await open(skeletonPath, 'r');
  try {
    await writeAll(output, Buffer.alloc(LAYER_META_PREFIX_BYTES));
    let indexLength = 0;
    for (const text of layerMetaIndexText(meta)) {
      const bytes = Buffer.from(text, 'utf8');
      await writeAll(output, bytes);
      indexLength += bytes.length;
    }
    const buffer = Buffer.alloc(COPY_CHUNK_BYTES);
    let copied = 0;
    for (;;) {
      const { bytesRead } = await skeleton.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      await writeAll(output, buffer.subarray(0, bytesRead));
      copied += bytesRead;
    }
    if (copied !== meta.skeletonSize) {
      throw new PrtiqlError('E_INTERNAL', `layer skeleton has ${copied} bytes, the index says ${meta.skeletonSize}`);
    }
    await writeAll(output, layerMetaPrefix(indexLength), 0);
    await syncHandle(output);
  } finally {
    await skeleton.close();
    await output.close();
  }
}

export interface OpenLayerMeta {
  meta: LayerMeta;
  /** Fills `target` with the skeleton's bytes from `offset` on, without allocating. */
  readSkeletonInto(target: Uint8Array, offset: number): void;
  close(): void;
}

/** Opens a `.meta` file: the index is parsed, skeleton segments are read on demand (blocking reads: they are small and local). */
export async function openLayerMetaFile(path: string): Promise<OpenLayerMeta> {
  const fd = openSync(path, 'r');
  try {
    const readInto = (target: Uint8Array, position: number): void => {
      if (readAllSync(fd, target, position) !== target.byteLength) throw new PrtiqlError('E_BAD_INPUT', `layer metadata ${path} is truncated`);
    };
    const readExactly = (position: number, length: number): Buffer => {
      const buffer = Buffer.alloc(length);
      readInto(buffer, position);
      return buffer;
    };
    const indexLength = layerMetaIndexLength(readExactly(0, LAYER_META_PREFIX_BYTES));
    const meta = parseLayerMetaIndex(readExactly(LAYER_META_PREFIX_BYTES, indexLength));
    const skeletonStart = LAYER_META_PREFIX_BYTES + indexLength;
    const { size } = fstatSync(fd);
    if (size !== skeletonStart + meta.skeletonSize) throw new PrtiqlError('E_BAD_INPUT', `layer metadata ${path} has the wrong size`);
    return {
      meta,
      readSkeletonInto: (target, offset) => readInto(target, skeletonStart + offset),
      close: () => closeSync(fd),
    };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}
