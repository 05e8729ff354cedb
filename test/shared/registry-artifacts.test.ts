import t from 'tap';
import { documentArtifact, releaseImageTag } from '../../shared/registry-artifacts.js';
import { documentPath } from '../../shared/store-layout.js';

t.test('each tagged document has the tag and artifact type devices look it up by', async (t) => {
  t.same(documentArtifact({ kind: 'release', channel: 'stable' }), {
    tag: 'stable',
    artifactType: 'application/vnd.prtiql.release.v1+json',
    layerMediaType: 'application/vnd.dsse.envelope.v1+json',
  });
  t.same(documentArtifact({ kind: 'timestamp', channel: 'stable' }), {
    tag: '_channels.stable.timestamp',
    artifactType: 'application/vnd.prtiql.timestamp.v1+json',
    layerMediaType: 'application/json',
  });
  t.same(documentArtifact({ kind: 'history', channel: 'edge-2.x' }), {
    tag: '_channels.edge-2.x.history',
    artifactType: 'application/vnd.prtiql.history.v1+json',
    layerMediaType: 'application/json',
  });
  t.same(documentArtifact({ kind: 'root', version: 12 }), { tag: '_roots.12', artifactType: 'application/vnd.prtiql.root.v1+json', layerMediaType: 'application/json' });
  for (const document of [{ kind: 'timestamp', channel: 'beta' }, { kind: 'history', channel: 'a.b_c-d' }, { kind: 'root', version: 7 }] as const) {
    const path = documentPath(document);
    t.equal(documentArtifact(document).tag, `_${path.slice(0, -'.json'.length).replaceAll('/', '.')}`, `the tag of ${path} is its path`);
  }
  const longest = 'x'.repeat(64);
  t.ok(documentArtifact({ kind: 'timestamp', channel: longest }).tag.length <= 128, 'the longest channel name still makes a valid tag');
});

t.test('a channel name that is not one is refused before it becomes a tag', async (t) => {
  for (const channel of ['_stable', '../x', 'UPPER', '']) {
    t.throws(() => documentArtifact({ kind: 'release', channel }), { code: 'E_USAGE' }, channel);
    t.throws(() => documentArtifact({ kind: 'history', channel }), { code: 'E_USAGE' }, channel);
  }
});

t.test('released images are tagged by channel, version and, in a multi-platform release, platform', async (t) => {
  t.equal(releaseImageTag('stable', 3), '_releases.stable.3');
  t.equal(releaseImageTag('beta.2', 14, { os: 'linux', architecture: 'arm64', variant: 'v8' }), '_releases.beta.2.14.linux-arm64-v8');
  t.match(releaseImageTag('a'.repeat(64), Number.MAX_SAFE_INTEGER, { os: 'linux', architecture: 'arm64', variant: 'v8' }), /^[\w][\w.-]{0,127}$/, 'within the tag grammar at the longest');
  t.throws(() => releaseImageTag('../x', 1), { code: 'E_USAGE' });
});
