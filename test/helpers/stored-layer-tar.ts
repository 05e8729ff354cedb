import { StoreBasisReader } from '../../applier/update/delta/delta-basis.js';
import { openLayerMetaFile } from '../../applier/device-store/layer-meta-file.js';
import type { DeviceStore } from '../../applier/device-store/device-store.js';
import { DigestCounter, type Digest } from '../../shared/digest.js';

const READ_BYTES = 1024 * 1024;

/**
 * A committed layer's tar as the device rebuilds it from the layer's files and its `.meta`
 * when the layer is a delta's basis (applier/update/delta/delta-basis.ts): the same code, not a copy.
 */
async function* storedLayerPieces(store: DeviceStore, diffID: Digest): AsyncGenerator<Uint8Array> {
  const opened = await openLayerMetaFile(store.layerMetaPath(diffID));
  const { size } = opened.meta;
  await opened.close();
  const reader = await StoreBasisReader.open(store, { target: { diffID, size }, bases: [{ kind: 'tar', layer: diffID, size }] });
  try {
    for (let position = 0; position < size; position += READ_BYTES) yield await reader.read(0, position, Math.min(READ_BYTES, size - position));
  } finally {
    await reader.close();
  }
}

export async function storedLayerTar(store: DeviceStore, diffID: Digest): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const piece of storedLayerPieces(store, diffID)) parts.push(piece);
  return Buffer.concat(parts);
}

/** The digest of storedLayerTar, without holding the tar. */
export async function storedLayerDigest(store: DeviceStore, diffID: Digest): Promise<Digest> {
  const counter = new DigestCounter();
  for await (const piece of storedLayerPieces(store, diffID)) counter.update(piece);
  return counter.digest();
}
