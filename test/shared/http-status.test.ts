import t from 'tap';
import { errorCodeForStatus, statusError } from '../../shared/http-status.js';

t.test('only answers a server may give otherwise later are transient', async (t) => {
  const codes = Object.fromEntries([400, 401, 403, 404, 405, 408, 409, 416, 429, 500, 502, 503, 304].map((status) => [status, errorCodeForStatus(status)]));
  t.same(codes, {
    400: 'E_BAD_INPUT',
    401: 'E_UNAUTHORIZED',
    403: 'E_UNAUTHORIZED',
    404: 'E_NOT_FOUND',
    405: 'E_BAD_INPUT',
    408: 'E_NETWORK',
    409: 'E_BAD_INPUT',
    416: 'E_BAD_INPUT',
    429: 'E_NETWORK',
    500: 'E_NETWORK',
    502: 'E_NETWORK',
    503: 'E_NETWORK',
    304: 'E_BAD_INPUT',
  });
});

t.test('the error names what was asked for and the status', async (t) => {
  t.match(statusError(404, 'https://store.example/x'), { code: 'E_NOT_FOUND', message: 'https://store.example/x does not exist (HTTP 404)' });
  t.match(statusError(400, 'https://store.example/x'), { code: 'E_BAD_INPUT', message: 'https://store.example/x: HTTP 400' });
});
