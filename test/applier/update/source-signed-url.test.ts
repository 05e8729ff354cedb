import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { openSource, type Source } from '../../../applier/update/fetch/source.js';
import { readCapped } from '../../../shared/capped-read.js';

const SIGNATURE = 'Policy=eyJzdG9yZSI6Iioi&Signature=c2lnbmVk&Key-Pair-Id=K2TEST';

async function serve(t: Test, handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<{ url: string; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  const server = createServer((request, response) => {
    requests.push(request);
    handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

async function read(source: Source, path: string): Promise<string> {
  return (await readCapped((await source.fetch(path, { maxBytes: 1 << 20 })).body, 1 << 20, path)).toString();
}

t.test('the query of a signed store URL goes with every request under it, and never into messages', async (t) => {
  const storage = await serve(t, (request, response) => {
    const url = new URL(request.url!, 'http://x');
    if (url.searchParams.get('X-Amz-Signature') !== 'presigned') response.writeHead(403).end();
    else response.writeHead(200).end('blob from storage');
  });
  const cdn = await serve(t, (request, response) => {
    const url = new URL(request.url!, 'http://x');
    if (url.search !== `?${SIGNATURE}`) response.writeHead(403).end();
    else if (url.pathname === '/fleet/store/channels/stable/release.json') response.writeHead(200).end('{"signed":"release"}');
    else if (url.pathname === '/fleet/store/blobs/sha256/moved') response.writeHead(307, { location: `${storage.url}/bucket/moved?X-Amz-Signature=presigned` }).end();
    else response.writeHead(404).end();
  });

  const source = openSource(`${cdn.url}/fleet/store?${SIGNATURE}`, { authorization: 'Bearer device-token', retry: { retries: 0 } });
  t.equal(source.url, `${cdn.url}/fleet/store/`, 'the source names itself without the signature');
  t.equal(await read(source, 'channels/stable/release.json'), '{"signed":"release"}');
  t.equal(await read(source, 'blobs/sha256/moved'), 'blob from storage', 'a redirect to a presigned URL keeps its own query');
  t.equal(storage.requests[0].headers.authorization, undefined, 'and gets no credentials');
  t.equal(cdn.requests[0].headers.authorization, 'Bearer device-token');
  const missing = await source.fetch('blobs/sha256/absent', { maxBytes: 10 }).catch((error: Error) => error);
  t.match(missing, { code: 'E_NOT_FOUND' });
  t.notMatch((missing as Error).message, /Signature|Policy/, 'errors do not print the signature');

  const unsigned = openSource(`${cdn.url}/fleet/store`, { retry: { retries: 0 } });
  await t.rejects(read(unsigned, 'channels/stable/release.json'), { code: 'E_UNAUTHORIZED' }, 'without the signature the CDN refuses');
});
