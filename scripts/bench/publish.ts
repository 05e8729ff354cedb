import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './cli-run.js';
import { measure, type Measured } from './measure.js';

/** A layer as `prtiql release --json` reports it (schemas/release.schema.json). */
export interface PublishedLayer {
  digest: string;
  sizeBytes: number;
  uncompressedSizeBytes: number;
}

interface ReleasedImage {
  layers: PublishedLayer[];
  deltas: { sizeBytes: number }[];
}

/** The release side of one pair: a signed store at `file://<work>/store` publishing v1, then v2 with its delta. */
export class PairPublisher {
  readonly storeUrl: string;
  readonly trustPath: string;
  private readonly images: string;
  private readonly key: string;

  private constructor(
    private readonly work: string,
    private readonly prtiql: string[],
  ) {
    this.storeUrl = `file://${join(work, 'store')}`;
    this.trustPath = join(work, 'keys/root.json');
    this.images = join(work, 'images');
    this.key = join(work, 'keys/release-key.pem');
  }

  /** Generates the signing keys and builds the two one-layer images from the pair's tars. */
  static async create(work: string, pairDir: string, prtiql: string[]): Promise<PairPublisher> {
    const publisher = new PairPublisher(work, prtiql);
    run([...prtiql, 'keys', 'generate', join(work, 'keys')]);
    for (const side of ['old', 'new']) {
      const spec = join(work, `${side}.json`);
      await writeFile(spec, JSON.stringify({ layers: [{ tar: join(pairDir, `${side}.tar`) }], entrypoint: ['/bin/sh'] }));
      run([...prtiql, 'build', '--file', spec, '--output', `oci:${publisher.images}:${side}`, '--quiet']);
    }
    return publisher;
  }

  blobPath(layer: PublishedLayer): string {
    return join(this.work, 'store/blobs/sha256', layer.digest.slice('sha256:'.length));
  }

  /** Releases the old image as version 1, in full. */
  releaseBase(): PublishedLayer {
    return this.release(['--image', `oci:${this.images}:old`, '--release-version', '1']).layers[0];
  }

  /** `prtiql delta` from the old image to the new one, measured. */
  buildDelta(): Measured {
    return measure([...this.prtiql, 'delta', '--from', `oci:${this.images}:old`, '--to', `oci:${this.images}:new`, '--store', this.storeUrl, '--json']);
  }

  /** Releases the new image as version 2 with the delta from version 1. */
  releaseTarget(): { layer: PublishedLayer; deltaBytes: number } {
    const released = this.release(['--image', `oci:${this.images}:new`, '--release-version', '2', '--base', `oci:${this.images}:old`]);
    return { layer: released.layers[0], deltaBytes: released.deltas.reduce((sum, delta) => sum + delta.sizeBytes, 0) };
  }

  /** The released image (these releases have one platform). */
  private release(args: string[]): ReleasedImage {
    const result = JSON.parse(run([...this.prtiql, 'release', ...args, '--channel', 'bench', '--key', this.key, '--store', this.storeUrl, '--json'])) as { images: ReleasedImage[] };
    return result.images[0];
  }
}
