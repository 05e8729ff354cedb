import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import t from 'tap';
import { DigestCounter, digestHex } from '../../../shared/digest.js';
import { buildImage } from '../../../cli/src/lib/build/build-image.js';
import { generateReleaseKey } from '../../../cli/src/lib/keys.js';
import { PART_SIZE, PARTS_IN_FLIGHT } from '../../../cli/src/lib/artifact-store/s3-upload.js';
import { REPO_ROOT, runProcess } from '../../helpers/run.js';
import { s3rverClient, startS3rver, S3RVER_CREDENTIALS, S3RVER_REGION } from '../../helpers/s3rver.js';

const MiB = 1024 * 1024;
const FILES = 11;
const FILE_SIZE = 10 * MiB;

/** Random bytes, so that gzip cannot shrink the layer below 100 MB. */
async function writeRandomFile(path: string, size: number): Promise<void> {
  await pipeline(
    (function* () {
      for (let written = 0; written < size; written += MiB) yield randomBytes(Math.min(MiB, size - written));
    })(),
    createWriteStream(path),
  );
}

/** Runs `prtiql release` under /usr/bin/time -v; returns its JSON report and peak RSS in bytes. */
async function releaseMeasured(reference: string, keyPath: string, to: string, endpoint: string): Promise<{ report: unknown; peakRss: number }> {
  const result = await runProcess(
    '/usr/bin/time',
    ['-v', process.execPath, join(REPO_ROOT, 'cli', 'bin', 'run.js'), 'release', '--image', reference, '--channel', 'stable', '--release-version', '1', '--key', keyPath, '--store', to, '--endpoint-url', endpoint, '--region', S3RVER_REGION, '--json'],
    { env: { ...process.env, AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey } },
  );
  if (result.code !== 0) throw new Error(`prtiql release exited ${result.code}: ${result.stderr}`);
  const peakKiB = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr)?.[1]);
  return { report: JSON.parse(result.stdout), peakRss: peakKiB * 1024 };
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(0)} MiB`;
}

t.test('a layer over 100 MB goes to S3 in parts, with bounded memory', async (t) => {
  const work = t.testdir();
  const server = await startS3rver(t);
  const keys = await generateReleaseKey(join(work, 'keys'));
  const build = async (name: string, files: number, size: number) => {
    const context = join(work, name);
    await mkdir(context);
    for (let i = 0; i < files; i++) await writeRandomFile(join(context, `data-${i}.bin`), size);
    return buildImage({ layers: [{ directory: context }] }, `oci:${join(work, 'image')}:${name}`, { mtime: 0 });
  };
  const tiny = await build('tiny', 1, 1000);
  const big = await build('big', FILES, FILE_SIZE);
  const layer = big.layers[0];
  t.ok(layer.size > 100 * 1000 * 1000, `gzip layer of ${mib(layer.size)}`);

  const baseline = await releaseMeasured(tiny.reference, keys.privateKey, 's3://releases/tiny', server.endpoint);
  const measured = await releaseMeasured(big.reference, keys.privateKey, 's3://releases/big', server.endpoint);
  t.match(measured.report, { blobsUploaded: 3, images: [{ layers: [{ digest: layer.digest, sizeBytes: layer.size }] }] });
  const extra = measured.peakRss - baseline.peakRss;
  t.comment(`peak RSS of prtiql release: ${mib(measured.peakRss)} for the ${mib(layer.size)} layer, ${mib(baseline.peakRss)} for a tiny one (parts of ${mib(PART_SIZE)}, ${PARTS_IN_FLIGHT} in flight)`);
  t.ok(extra < layer.size, `the release never held the layer: ${mib(extra)} above a tiny release`);

  const key = `big/blobs/sha256/${digestHex(layer.digest)}`;
  const client = s3rverClient(server);
  t.equal((await client.send(new HeadObjectCommand({ Bucket: 'releases', Key: key }))).ContentLength, layer.size);
  const stored = new DigestCounter();
  for await (const chunk of (await client.send(new GetObjectCommand({ Bucket: 'releases', Key: key }))).Body as Readable) stored.update(chunk);
  t.equal(stored.digest(), layer.digest, 'the stored layer has its digest');
});
