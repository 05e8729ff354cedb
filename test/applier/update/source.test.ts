import { writeFile } from 'node:fs/promises';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import { openSource, type Source } from '../../../applier/update/fetch/source.js';
import { readCapped } from '../../../shared/capped-read.js';
import { serveDirectory } from '../../../scripts/lib/static-server.js';

async function read(source: Source, path: string, maxBytes = 1 << 20): Promise<Buffer> {
  const fetched = await source.fetch(path, { maxBytes });
  return readCapped(fetched.body, 1 << 30, path);
}

/** A real HTTP server on 127.0.0.1 answering with `handler`, closed at the end of the test. */
async function serve(t: Test, handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

t.test('file:// and http:// sources read the same store', async (t) => {
  const dir = t.testdir({ blobs: { sha256: { abc: 'blob bytes' } } });
  const server = await serveDirectory(dir);
  t.teardown(() => server.close());
  for (const source of [openSource(pathToFileURL(dir).href), openSource(server.url)]) {
    const fetched = await source.fetch('blobs/sha256/abc', { maxBytes: 100 });
    t.equal(fetched.size, 10, `${source.url} knows the size`);
    t.equal((await readCapped(fetched.body, 100, 'blob')).toString(), 'blob bytes');
    await t.rejects(source.fetch('blobs/sha256/missing', { maxBytes: 100 }), { code: 'E_NOT_FOUND' }, `${source.url} missing blob`);
    await t.rejects(source.fetch('blobs/sha256/abc', { maxBytes: 5 }), { code: 'E_TOO_LARGE' }, `${source.url} declared size over the cap`);
  }
});

t.test('a file that grows past the cap while being read is cut off', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'grows');
  await writeFile(file, 'small');
  const source = openSource(pathToFileURL(dir).href);
  const fetched = await source.fetch('grows', { maxBytes: 10 });
  await writeFile(file, 'much larger than ten bytes');
  await t.rejects(readCapped(fetched.body, 1 << 20, 'grows'), { code: 'E_TOO_LARGE' });
});

t.test('HTTP failures are typed', async (t) => {
  const url = await serve(t, (request, response) => {
    if (request.url === '/error') response.writeHead(500).end();
    else if (request.url === '/endless') {
      response.writeHead(200);
      response.write(Buffer.alloc(64 * 1024));
      response.end(Buffer.alloc(64 * 1024));
    } else if (request.url === '/stall-headers') {
      // never answers
    } else if (request.url === '/stall-body') {
      response.writeHead(200, { 'content-length': '100' });
      response.write('partial');
    } else response.writeHead(404).end();
  });
  const timeouts = { responseMs: 300, idleMs: 300 };
  const source = openSource(url, { timeouts });
  await t.rejects(read(source, 'missing'), { code: 'E_NOT_FOUND', message: /HTTP 404/ });
  await t.rejects(read(source, 'error'), { code: 'E_NETWORK', message: /HTTP 500/ });
  await t.rejects(read(source, 'endless', 100_000), { code: 'E_TOO_LARGE' }, 'a body without a length is capped while streaming');
  await t.rejects(read(source, 'stall-headers'), { code: 'E_NETWORK', message: /no response within 300 ms/ });
  await t.rejects(read(source, 'stall-body'), { code: 'E_NETWORK', message: /no data within 300 ms/ });
  await t.rejects(read(openSource('http://127.0.0.1:1/', { timeouts }), 'x'), { code: 'E_NETWORK' }, 'connection refused');
});

t.test('only file, http and https URLs are sources', async (t) => {
  t.throws(() => openSource('ftp://example.invalid/store'), { code: 'E_USAGE' });
  t.throws(() => openSource('not a url'), { code: 'E_USAGE' });
});
