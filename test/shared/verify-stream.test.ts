import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import t from 'tap';
import { readCapped } from '../../shared/capped-read.js';
import { sha256Digest, parseDigest, isDigest } from '../../shared/digest.js';
import { VerifyingStream } from '../../shared/verify-stream.js';

const sink = () => new Writable({ write: (_c, _e, cb) => cb() });

t.test('passes matching bytes and rejects a wrong digest or size at the end', async (t) => {
  const data = Buffer.from('hello world');
  const expected = { digest: sha256Digest(data), size: data.length };
  await pipeline(Readable.from([data.subarray(0, 3), data.subarray(3)]), new VerifyingStream(expected, 'blob'), sink());
  await t.rejects(pipeline(Readable.from([Buffer.from('hello WORLD')]), new VerifyingStream(expected, 'blob'), sink()), {
    code: 'E_DIGEST_MISMATCH',
  });
  await t.rejects(pipeline(Readable.from([Buffer.from('hello')]), new VerifyingStream(expected, 'blob'), sink()), {
    code: 'E_SIZE_MISMATCH',
  });
});

t.test('fails as soon as more bytes than declared arrive', async (t) => {
  const expected = { digest: sha256Digest('ab'), size: 2 };
  let produced = 0;
  const endless = new Readable({
    read() {
      produced++;
      this.push(Buffer.alloc(1024));
    },
  });
  await t.rejects(pipeline(endless, new VerifyingStream(expected, 'blob'), sink()), { code: 'E_SIZE_MISMATCH' });
  t.ok(produced < 100, 'stopped reading early');
});

t.test('readCapped stops at the limit', async (t) => {
  t.equal((await readCapped(Readable.from([Buffer.from('abc')]), 3, 'doc')).toString(), 'abc');
  await t.rejects(readCapped(Readable.from([Buffer.from('ab'), Buffer.from('cd')]), 3, 'doc'), {
    code: 'E_TOO_LARGE',
    message: /doc is larger than the 3-byte limit/,
  });
});

t.test('digests are validated', async (t) => {
  const d = sha256Digest('x');
  t.ok(isDigest(d));
  t.equal(parseDigest(d), d);
  t.throws(() => parseDigest('sha256:XYZ'), { code: 'E_BAD_INPUT' });
  t.throws(() => parseDigest('md5:' + 'a'.repeat(64)), { code: 'E_BAD_INPUT' });
});
