import t from 'tap';
import { parseChallenges } from '../../shared/www-authenticate.js';

t.test('bearer and basic challenges with quoted, escaped and bare values', async (t) => {
  t.same(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull,push' } },
  ]);
  t.same(parseChallenges('Basic realm="Registry Realm"'), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  t.same(parseChallenges('Basic realm="a, \\"b\\"", Bearer Realm=https://x/token , service=reg'), [
    { scheme: 'basic', params: { realm: 'a, "b"' } },
    { scheme: 'bearer', params: { realm: 'https://x/token', service: 'reg' } },
  ]);
  t.same(parseChallenges(''), []);
  t.same(parseChallenges('Negotiate'), [{ scheme: 'negotiate', params: {} }]);
});
