import { createBrotliDecompress, type BrotliDecompress } from 'node:zlib';
import { DELTA_MAGIC, DELTA_PREFIX_LENGTH, DELTA_READABLE_VERSIONS, deltaMalformed } from './format.js';

const INFLATE_CHUNK_BYTES = 64 * 1024;

function writable(inflater: BrotliDecompress): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      inflater.off('drain', done);
      inflater.off('close', done);
      resolve();
    };
    inflater.on('drain', done);
    inflater.on('close', done);
  });
}

async function readPrefix(input: AsyncIterator<Uint8Array>): Promise<{ version: number; rest: Buffer }> {
  let bytes = Buffer.alloc(0);
  while (bytes.length < DELTA_PREFIX_LENGTH) {
    const next = await input.next();
    if (next.done) deltaMalformed(`${bytes.length} bytes are too short for a delta`);
    bytes = Buffer.concat([bytes, next.value]);
  }
  if (!bytes.subarray(0, DELTA_MAGIC.length).equals(DELTA_MAGIC)) deltaMalformed('not a delta blob (bad magic)');
  const version = bytes[DELTA_MAGIC.length]!;
  if (!DELTA_READABLE_VERSIONS.includes(version)) {
    deltaMalformed(`format version ${version} is not supported (this decoder reads versions ${DELTA_READABLE_VERSIONS.slice(0, -1).join(', ')} and ${DELTA_READABLE_VERSIONS.at(-1)})`);
  }
  return { version, rest: bytes.subarray(DELTA_PREFIX_LENGTH) };
}

export interface InflatedDelta {
  /** The format version of the blob, one of DELTA_READABLE_VERSIONS. */
  version: number;
  /** The decompressed op stream, in chunks. */
  body: AsyncGenerator<Buffer>;
}

/**
 * Checks the blob's magic and version, then decompresses the rest as it is read. A corrupt or
 * truncated brotli stream, or any byte after its end, is E_DELTA_MALFORMED; an error of the
 * source itself (network, chunk verification) passes through unchanged.
 */
export async function inflateDelta(source: AsyncIterable<Uint8Array>): Promise<InflatedDelta> {
  const input = source[Symbol.asyncIterator]();
  try {
    const { version, rest } = await readPrefix(input);
    return { version, body: decompress(input, rest) };
  } catch (error) {
    await input.return?.();
    throw error;
  }
}

async function* decompress(input: AsyncIterator<Uint8Array>, afterPrefix: Buffer): AsyncGenerator<Buffer> {
  const inflater = createBrotliDecompress({ chunkSize: INFLATE_CHUNK_BYTES });
  let fed = afterPrefix.length;
  let sourceError: { error: unknown } | undefined;

  const feed = async () => {
    try {
      inflater.write(afterPrefix);
      for (;;) {
        const next = await input.next();
        if (next.done) break;
        if (inflater.destroyed) {
          await input.return?.();
          return;
        }
        fed += next.value.byteLength;
        if (!inflater.write(next.value)) await writable(inflater);
      }
      if (!inflater.destroyed) inflater.end();
    } catch (error) {
      sourceError = { error };
      inflater.destroy(error as Error);
    }
  };
  void feed();

  try {
    for await (const chunk of inflater) yield chunk as Buffer;
  } catch (error) {
    if (sourceError !== undefined && error === sourceError.error) throw error;
    deltaMalformed(`the compressed op stream is corrupt or truncated (${(error as Error).message})`);
  } finally {
    inflater.destroy();
  }
  // Node's brotli decoder stops at the end of the stream and silently ignores what follows.
  if (inflater.bytesWritten !== fed) deltaMalformed(`${fed - inflater.bytesWritten} bytes follow the compressed op stream`);
}
