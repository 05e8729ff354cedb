import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { digestHex, isDigest, sha256Digest, type Digest } from '../../../../shared/digest.js';
import { MediaType } from '../../../../shared/oci.js';
import { comparePaths, type TarEntrySource } from '../../../../shared/tar/deterministic-writer.js';
import type { WrittenLayer } from '../build/write-layer-blob.js';
import { OciLayout } from '../image/oci-layout.js';
import { replaceFileDurably } from '../../../../filesystem/durable.js';

/** `$PRTIQL_CACHE_DIR`, else `$XDG_CACHE_HOME/prtiql/build`, else `~/.cache/prtiql/build`. */
export function defaultCacheDirectory(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PRTIQL_CACHE_DIR) return env.PRTIQL_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'prtiql', 'build');
}

/** The cache key of a build step: sha256 of everything its result depends on. */
export function stepKey(inputs: unknown): Digest {
  return sha256Digest(JSON.stringify(inputs));
}

/** sha256 over layer entries: paths, kinds, modes, owners, link targets and file contents (read once). */
export async function entriesDigest(entries: readonly TarEntrySource[]): Promise<Digest> {
  const hash = createHash('sha256');
  for (const entry of [...entries].sort((a, b) => comparePaths(a.path, b.path))) {
    hash.update(JSON.stringify([entry.path, entry.type, entry.mode, entry.uid ?? 0, entry.gid ?? 0, entry.size ?? 0, entry.linkname ?? '']));
    if (entry.type === 'file' && entry.open) {
      const content = createHash('sha256');
      for await (const chunk of Readable.from(entry.open())) content.update(chunk as Uint8Array);
      hash.update(content.digest('hex'));
    }
    hash.update('\n');
  }
  return `sha256:${hash.digest('hex')}`;
}

/** What a step produced: a layer, or null when it changed nothing. */
export interface CachedStep {
  layer: WrittenLayer | null;
}

function parseCachedStep(text: string): CachedStep | undefined {
  try {
    const value = JSON.parse(text) as CachedStep;
    if (value.layer === null) return value;
    const { descriptor, diffID, size } = value.layer;
    if (!isDigest(descriptor.digest) || !isDigest(diffID) || !Number.isSafeInteger(size) || descriptor.mediaType !== MediaType.layerGzip) return undefined;
    return value;
  } catch {
    return undefined;
  }
}

/**
 * Layers of earlier build steps by step key: `steps/<key hex>.json` names the layer, whose
 * blob lives in the OCI layout `layers/` beside it. A record whose blob is gone, or that
 * cannot be read, is a miss. Nothing is ever evicted: delete the directory to reclaim space.
 */
export class BuildCache {
  private constructor(
    private readonly directory: string,
    /** Every layer a step wrote: blobs are written here first, then copied to the output. */
    readonly layout: OciLayout,
  ) {}

  static async open(directory: string): Promise<BuildCache> {
    await mkdir(join(directory, 'steps'), { recursive: true });
    return new BuildCache(directory, await OciLayout.openOrCreate(join(directory, 'layers')));
  }

  private recordPath(key: Digest): string {
    return join(this.directory, 'steps', `${digestHex(key)}.json`);
  }

  async get(key: Digest): Promise<CachedStep | undefined> {
    let text: string;
    try {
      text = await readFile(this.recordPath(key), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const step = parseCachedStep(text);
    if (step?.layer && !(await this.layout.hasBlob(step.layer.descriptor.digest))) return undefined;
    return step;
  }

  async put(key: Digest, step: CachedStep): Promise<void> {
    await replaceFileDurably(this.recordPath(key), Buffer.from(JSON.stringify(step)), 0o644);
  }
}
