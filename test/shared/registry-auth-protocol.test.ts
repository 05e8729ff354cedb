import t from 'tap';
import { challengedScheme, checkRealmMayReceiveCredentials, parseTokenResponse, repositoryScope, tokenRequestUrl } from '../../shared/registry-auth-protocol.js';

t.test('a Bearer challenge with a realm wins over Basic; neither is no scheme', async (t) => {
  t.same(challengedScheme('Basic realm="r", Bearer realm="https://auth.example/token",service="reg"', 'reg.example'), {
    kind: 'bearer',
    realm: new URL('https://auth.example/token'),
    service: 'reg',
  });
  t.same(challengedScheme('Bearer service="no realm", Basic realm="r"', 'reg.example'), { kind: 'basic' });
  t.equal(challengedScheme('Negotiate', 'reg.example'), undefined);
  t.throws(() => challengedScheme('Bearer realm="not a url"', 'reg.example'), { code: 'E_BAD_INPUT', message: /registry reg\.example sent a token realm that is no URL/ });
});

t.test('the token request names the service and every scope', async (t) => {
  const url = tokenRequestUrl({ kind: 'bearer', realm: new URL('https://auth.example/token?a=1'), service: 'reg' }, [repositoryScope('app', 'pull,push'), repositoryScope('base', 'pull')]);
  t.equal(url.href, 'https://auth.example/token?a=1&service=reg&scope=repository%3Aapp%3Apull%2Cpush&scope=repository%3Abase%3Apull');
});

t.test('a token answer: token or access_token, expiring early, 60 s when it says nothing', async (t) => {
  t.same(parseTokenResponse('{"token":"a","expires_in":300}', 'x', 1_000_000), { token: 'a', expires: 1_000_000 + 290_000 });
  t.same(parseTokenResponse('{"access_token":"b"}', 'x', 0), { token: 'b', expires: 50_000 });
  t.same(parseTokenResponse('{"token":"","access_token":"c","expires_in":-1}', 'x', 0), { token: 'c', expires: 50_000 });
  t.throws(() => parseTokenResponse('{', 'x'), { code: 'E_BAD_INPUT', message: 'x: the token response is not JSON' });
  t.throws(() => parseTokenResponse('{"token":7}', 'x'), { code: 'E_BAD_INPUT', message: 'x: the token response holds no token' });
});

t.test('credentials go to an HTTPS realm, or a plain-HTTP one on the registry host itself', async (t) => {
  t.doesNotThrow(() => checkRealmMayReceiveCredentials(new URL('https://auth.example/token'), 'reg.example:5000'));
  t.doesNotThrow(() => checkRealmMayReceiveCredentials(new URL('http://reg.example:9000/token'), 'reg.example:5000'));
  t.throws(() => checkRealmMayReceiveCredentials(new URL('http://auth.example/token'), 'reg.example'), { code: 'E_UNAUTHORIZED', message: /plain HTTP on another host/ });
});
