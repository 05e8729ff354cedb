import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';

export interface ListedEntry {
  header: tarStream.Header;
  content: Buffer;
}

/** Reads a whole (small, test-sized) tar stream into its headers and contents, in archive order. */
export async function readTarEntries(source: Readable | AsyncIterable<Uint8Array>): Promise<ListedEntry[]> {
  const extract = tarStream.extract();
  const feeding = pipeline(Readable.from(source), extract);
  const entries: ListedEntry[] = [];
  for await (const entry of extract) {
    const parts: Buffer[] = [];
    for await (const chunk of entry) parts.push(chunk as Buffer);
    entries.push({ header: entry.header, content: Buffer.concat(parts) });
  }
  await feeding;
  return entries;
}
