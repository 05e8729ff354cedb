import { createBrotliDecompress, type BrotliDecompress } from 'node:zlib';
import { DELTA_MAGIC, DELTA_PREFIX_LENGTH, READABLE_FORMAT_VERSIONS, deltaMalformed } from './format.js';

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

async function readPrefix(input: AsyncIterator<Uint8Array>): Promise<Buffer> {
  let bytes = Buffer.alloc(0);
  while (bytes.length < DELTA_PREFIX_LENGTH) {
    const next = await input.next();
    if (next.done) deltaMalformed(`${bytes.length} bytes are too short for a delta`);
    bytes = Buffer.concat([bytes, next.value]);
  }
  if (!bytes.subarray(0, DELTA_MAGIC.length).equals(DELTA_MAGIC)) deltaMalformed('not a delta blob (bad magic)');
  const version = bytes[DELTA_MAGIC.length]!;
  if (!READABLE_FORMAT_VERSIONS.includes(version)) deltaMalformed(`format version ${version} is not supported (expected ${READABLE_FORMAT_VERSIONS.join(' or ')})`);
  return bytes.subarray(DELTA_PREFIX_LENGTH);
}

/**
 * Checks the blob's magic and version and yields the decompressed op stream. A corrupt or
 * truncated brotli stream, or any byte after its end, is E_DELTA_MALFORMED; an error of the
 * source itself (network, chunk verification) passes through unchanged.
 */
export async function* inflateDelta(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const input = source[Symbol.asyncIterator]();
  let afterPrefix: Buffer;
  try {
    afterPrefix = await readPrefix(input);
  } catch (error) {
    await input.return?.();
    throw error;
  }
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
