import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { silentLogger } from '../../../applier/log.js';
import { openSource } from '../../../applier/update/fetch/source.js';
import { update, type UpdateRequest } from '../../../applier/update/update.js';
import { rotateTrustRoot, signTrustRoot } from '../../../cli/src/lib/keys.js';
import { rootPath, timestampPath } from '../../../shared/store-layout.js';
import { loadTrustRoot, trustRootPayload } from '../../../shared/trust-root.js';
import { newSigner, publishTestRelease, trustRootJson } from '../../helpers/signed-artifact-store.js';
import { countingServer, releasePath, resignRelease, writeTestTimestamp } from '../../helpers/trust-fixtures.js';

const layers = (version: number) => [[{ path: 'version', type: 'file' as const, mode: 0o644, content: `${version}\n` }]];
const hour = 3_600_000;
const day = 24 * hour;

async function readState(storeRoot: string): Promise<{ highestSeen: number; timeFloor?: string; timestampFloor?: { time: string; keys: string[] } }> {
  return JSON.parse(await readFile(join(storeRoot, 'state.json'), 'utf8'));
}

t.test('a root with timestamp keys makes a fresh timestamp naming the exact release a condition of every update', async (t) => {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const [releaser, stamper] = [newSigner(), newSigner()];
  const trust = join(dir, 'root.json');
  await writeFile(trust, signTrustRoot(trustRootPayload([releaser.publicKey], 1, 1, { publicKeys: [stamper.publicKey], threshold: 1 }), [releaser.privateKey]));
  await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 1, layers: layers(1), signers: [releaser] });
  const server = await countingServer(artifacts);
  t.teardown(() => server.close());
  let devices = 0;
  const run = (extra: Partial<UpdateRequest> = {}) =>
    update({ source: openSource(server.url), channel: 'stable', storeRoot: join(dir, `device-${devices++}`), trustPath: trust, log: silentLogger, ...extra });
  const now = Date.now();
  const fresh = { created: new Date(now), expires: new Date(now + day) };
  const refused = async (name: string, code: string, message: RegExp, prepare: () => Promise<unknown>) => {
    await prepare();
    server.reset();
    await t.rejects(run(), { code, message }, name);
    t.same(server.blobRequests(), [], `${name}: no blob was fetched`);
  };

  await refused('no timestamp', 'E_NOT_FOUND', /has no timestamp .*the trust root requires one/, async () => undefined);
  await refused('timestamp signed by the release key', 'E_UNTRUSTED_KEY', /timestamp is not signed by any trusted key/, () =>
    writeTestTimestamp(artifacts, releaser, fresh),
  );
  await refused('timestamp signed twice by one key', 'E_DUPLICATE_SIGNATURE', /timestamp carries more than one signature/, async () => {
    const path = join(artifacts, timestampPath('stable'));
    await writeTestTimestamp(artifacts, stamper, fresh);
    const envelope = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify({ ...envelope, signatures: [envelope.signatures[0], envelope.signatures[0]] }));
  });
  await refused('expired timestamp', 'E_EXPIRED', /timestamp of channel stable expired/, () =>
    writeTestTimestamp(artifacts, stamper, { created: new Date(now - 2 * day), expires: new Date(now - day) }),
  );
  await refused('oversized timestamp', 'E_TOO_LARGE', /timestamp\.json is larger than the 65536-byte limit/, () =>
    writeFile(join(artifacts, timestampPath('stable')), Buffer.alloc(64 * 1024 + 1, ' ')),
  );
  const v1 = await readFile(releasePath(artifacts));
  await writeTestTimestamp(artifacts, stamper, fresh, v1);
  await refused('a release the timestamp does not name (mix-and-match)', 'E_MIX_AND_MATCH', /is not the one its timestamp names/, () =>
    resignRelease(artifacts, [releaser], (release) => void (release.version = 2)),
  );

  await writeFile(releasePath(artifacts), v1);
  const storeRoot = join(dir, 'installed');
  t.match(await run({ storeRoot }), { changed: true, version: 1 }, 'a fresh timestamp naming the release: installed');
  t.equal((await readState(storeRoot)).timestampFloor?.time, fresh.created.toISOString(), 'the timestamp time is the new timestamp floor');

  const later = new Date(now + hour);
  await writeTestTimestamp(artifacts, stamper, { created: later, expires: new Date(later.getTime() + day) });
  t.match(await run({ storeRoot }), { changed: false }, 'nothing to install');
  t.equal((await readState(storeRoot)).timestampFloor?.time, later.toISOString(), 'a renewed timestamp moves the floor of an up-to-date device');

  await writeTestTimestamp(artifacts, stamper, { created: new Date(now - 2 * hour), expires: new Date(now + 30 * 60_000) });
  await t.rejects(
    run({ storeRoot, now: new Date(0) }),
    { code: 'E_EXPIRED' },
    'a replayed timestamp that expired before the floor is refused, though the device clock says 1970',
  );
});

t.test('without timestamps, the newest release time seen is the floor: a wrong clock cannot revive an expired release', async (t) => {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const storeRoot = join(dir, 'store');
  const signer = newSigner();
  const trust = join(dir, 'root.json');
  await writeFile(trust, trustRootJson([signer]));
  const source = openSource(`file://${artifacts}`);
  const run = (now: Date) => update({ source, channel: 'stable', storeRoot, trustPath: trust, now, log: silentLogger });
  const now = Date.now();

  await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 1, layers: layers(1), signers: [signer] });
  const v1Created = new Date(now + 3 * day);
  await resignRelease(artifacts, [signer], (release) => {
    release.created = v1Created.toISOString();
    release.expires = new Date(now + 10 * day).toISOString();
  });
  t.match(await run(new Date(now + 3 * day)), { changed: true, version: 1 });
  t.equal((await readState(storeRoot)).timeFloor, v1Created.toISOString(), "the release's signed time is the floor");

  await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 2, layers: layers(2), signers: [signer] });
  await resignRelease(artifacts, [signer], (release) => {
    release.created = new Date(now).toISOString();
    release.expires = new Date(now + 2 * day).toISOString();
  });
  await t.rejects(run(new Date(now)), { code: 'E_EXPIRED', message: /release 2 of channel stable expired/ }, 'expired at the floor, though not by the clock');
  t.equal((await readState(storeRoot)).highestSeen, 1, 'nothing recorded for the refused release');
});

t.test('a stolen timestamp key can at most keep a device on the current release until it expires, and rotating the key ends even that', async (t) => {
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const [releaser, stamper, newStamper] = [newSigner(), newSigner(), newSigner()];
  const root1 = signTrustRoot(trustRootPayload([releaser.publicKey], 1, 1, { publicKeys: [stamper.publicKey], threshold: 1 }), [releaser.privateKey]);
  const trust = join(dir, 'root.json');
  await writeFile(trust, root1);
  const now = Date.now();
  const v1Expires = new Date(now + 10 * day);
  await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 1, layers: layers(1), signers: [releaser], expires: v1Expires });
  await writeTestTimestamp(artifacts, stamper, { created: new Date(now), expires: new Date(now + day) });
  const run = (storeRoot: string, clock: number) =>
    update({ source: openSource(`file://${artifacts}`), channel: 'stable', storeRoot, trustPath: trust, now: new Date(clock), log: silentLogger });
  const devices = [join(dir, 'frozen'), join(dir, 'recovered')];
  for (const device of devices) t.match(await run(device, now), { changed: true, version: 1 });

  const farFuture = new Date('2100-01-01T00:00:00Z');
  await writeTestTimestamp(artifacts, stamper, { created: farFuture, expires: new Date(farFuture.getTime() + day) });
  for (const device of devices) t.match(await run(device, now), { changed: false, version: 1 }, 'the forged timestamp names the current release: accepted');
  const poisoned = await readState(devices[0]);
  t.equal(poisoned.timestampFloor?.time, v1Expires.toISOString(), 'a timestamp time moves the floor no further than the expiry of the release it names');
  t.equal(Date.parse(poisoned.timeFloor!) <= now + hour, true, 'the release floor is not moved by timestamp keys');

  const v2 = await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 2, layers: layers(2), signers: [releaser], expires: new Date(now + 90 * day) });
  const renewed = (created: number) => ({ created: new Date(created), expires: new Date(created + day) });
  await writeTestTimestamp(artifacts, stamper, renewed(now + hour));
  await t.rejects(run(devices[0], now + hour), { code: 'E_EXPIRED', message: /timestamp of channel stable expired/ }, 'frozen while the release the forgery named is still valid');
  await writeTestTimestamp(artifacts, stamper, renewed(v1Expires.getTime()));
  t.match(await run(devices[0], v1Expires.getTime()), { changed: true, version: v2.release.version }, 'once that release has expired, genuine timestamps and releases install again');

  const root2 = rotateTrustRoot({ currentRoot: root1, endorsingKeys: [releaser.privateKey], newKeys: [releaser.privateKey], timestamp: { publicKeys: [newStamper.publicKey], threshold: 1 } });
  await mkdir(join(artifacts, 'roots'), { recursive: true });
  await writeFile(join(artifacts, rootPath(2)), root2.bytes);
  await writeTestTimestamp(artifacts, newStamper, renewed(now + hour));
  t.match(await run(devices[1], now + hour), { changed: true, version: 2 }, 'after the publisher rotates the timestamp key, the next genuine update installs at once');
  t.same((await readState(devices[1])).timestampFloor, { time: new Date(now + hour).toISOString(), keys: [...loadTrustRoot(root2.bytes).timestamp!.keys.keys()] }, 'the floor the stolen key set was discarded');
});
