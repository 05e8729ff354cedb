import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { silentLogger } from '../../../applier/log.js';
import { openSource } from '../../../applier/update/fetch/source.js';
import { update } from '../../../applier/update/update.js';
import { signEnvelope } from '../../../shared/dsse.js';
import { MediaType } from '../../../shared/oci.js';
import { trustRootPayload } from '../../../shared/trust-root.js';
import { newSigner, publishTestRelease, trustRootJson, type Signer } from '../../helpers/signed-artifact-store.js';

const layers = (version: number) => [[{ path: 'version', type: 'file' as const, mode: 0o644, content: `${version}\n` }]];

/** A root trusting only `next`, signed by `next` and by every key in `endorsers`. */
function successorRoot(next: Signer, endorsers: Signer[], version: number): Buffer {
  const payload = Buffer.from(JSON.stringify(trustRootPayload([next.publicKey], 1, version)));
  return Buffer.from(JSON.stringify(signEnvelope(MediaType.trustRoot, payload, [next, ...endorsers].map((s) => s.privateKey))));
}

t.test('the trust root is pinned on first use and replaced only by a signed, newer successor', async (t) => {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const storeRoot = join(dir, 'store');
  await mkdir(artifacts);
  const source = openSource(pathToFileURL(artifacts).href);
  const run = (trustPath?: string) => update({ source, channel: 'stable', storeRoot, trustPath, log: silentLogger });
  const write = async (name: string, bytes: Buffer) => {
    await writeFile(join(dir, name), bytes);
    return join(dir, name);
  };
  const pinned = () => readFile(join(storeRoot, 'trust', 'root.json'));

  const first = newSigner();
  const firstRoot = trustRootJson([first]);
  await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 1, layers: layers(1), signers: [first] });
  await t.rejects(run(), { code: 'E_USAGE', message: /pass --trust/ }, 'a new store needs a trust root');
  t.match(await run(await write('first.json', firstRoot)), { changed: true, version: 1 });
  t.ok((await pinned()).equals(firstRoot), 'pinned byte for byte');

  await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 2, layers: layers(2), signers: [first] });
  t.match(await run(), { changed: true, version: 2 }, 'later updates need no --trust');

  const stranger = newSigner();
  await t.rejects(run(await write('stranger.json', trustRootJson([stranger], 1, 5))), { code: 'E_UNTRUSTED_KEY' }, 'an unrelated root is refused');
  await t.rejects(run(await write('stale.json', trustRootJson([first, stranger], 1, 1))), { code: 'E_ROLLBACK' }, 'a different root that is not newer is refused');
  t.ok((await pinned()).equals(firstRoot), 'the pinned root is unchanged');

  const second = newSigner();
  await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 3, layers: layers(3), signers: [second] });
  await t.rejects(run(), { code: 'E_UNTRUSTED_KEY' }, 'a release by the new key needs the rotation first');
  const rotated = successorRoot(second, [first], 2);
  t.match(await run(await write('rotated.json', rotated)), { changed: true, version: 3 }, 'a successor signed by the old key is accepted');
  t.ok((await pinned()).equals(rotated), 'and pinned');

  await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 4, layers: layers(4), signers: [first] });
  await t.rejects(run(), { code: 'E_UNTRUSTED_KEY' }, 'the rotated-out key no longer signs releases');
});
