import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Test } from 'tap';
import { startFaultServer, type FaultServer } from './fault-server.js';
import { newSigner, publishTestRelease, trustRootJson, type PublishedRelease } from './signed-artifact-store.js';

/** Every file of a directory artifact store, by store path, into `files` (a fault server's map, refreshed in place). */
export async function readArtifactFiles(root: string, files: Record<string, Buffer> = {}): Promise<Record<string, Buffer>> {
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) files[relative(root, join(entry.parentPath, entry.name))] = await readFile(join(entry.parentPath, entry.name));
  }
  return files;
}

export interface ServedRelease {
  dir: string;
  trustPath: string;
  published: PublishedRelease;
  /** Store path to bytes, as served. */
  files: Record<string, Buffer>;
  server: FaultServer;
}

/** Version 1 of channel `stable`, one layer holding `data.bin`, published in a test directory and served by a fault server. */
export async function serveOneFileRelease(t: Test, content: Buffer): Promise<ServedRelease> {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const trustPath = join(dir, 'root.json');
  const signer = newSigner();
  await writeFile(trustPath, trustRootJson([signer]));
  const published = await publishTestRelease({
    storeDir: artifacts,
    channel: 'stable',
    version: 1,
    layers: [[{ path: 'data.bin', type: 'file', mode: 0o644, content }]],
    signers: [signer],
  });
  const files = await readArtifactFiles(artifacts);
  return { dir, trustPath, published, files, server: await startFaultServer(t, files) };
}
