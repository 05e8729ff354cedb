import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Test } from 'tap';
import type { Digest } from '../../shared/digest.js';
import { buildImage } from '../../cli/src/lib/build/build-image.js';

/** A library layer shared by every version of the test app: what deltas never need to send. */
const library = randomBytes(300_000);
/** App code that does not compress and stays the same across versions: what makes a delta pay. */
const vendored = randomBytes(20_000);

export interface AppImageOptions {
  /** Registry credentials for docker:// references. */
  authFile?: string;
  /** More files in the app layer. */
  extra?: Record<string, Buffer>;
}

/**
 * Builds version `version` of a two-layer test app (a library layer that never changes, an app
 * layer that does) and writes it to `reference` (oci:, docker-archive: or docker://), as CI would.
 */
export async function buildAppImage(t: Test, reference: string, version: number, options: AppImageOptions = {}): Promise<Digest> {
  const dir = await mkdtemp(join(tmpdir(), 'prtiql-app-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const trees = [{ 'usr/lib/libapp.so': library }, { 'app/main.js': Buffer.from(`console.log(${version});\n`.repeat(500)), 'app/vendor.js': vendored, ...options.extra }];
  const layers = [];
  for (const [i, files] of trees.entries()) {
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(dir, String(i), path)), { recursive: true });
      await writeFile(join(dir, String(i), path), content);
    }
    layers.push({ directory: join(dir, String(i)) });
  }
  const built = await buildImage({ layers, cmd: ['/app/main.js'] }, reference, { mtime: 0, ...(options.authFile && { registry: { authFile: options.authFile } }) });
  return built.manifest.digest;
}
