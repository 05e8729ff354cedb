import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import t from 'tap';
import type { Logger, LogFields } from '../../../applier/log.js';
import { openSource } from '../../../applier/update/fetch/source.js';
import { UpdateProgress } from '../../../applier/update/progress.js';
import { update } from '../../../applier/update/update.js';
import { blobPath } from '../../../shared/store-layout.js';
import { serveOneFileRelease } from '../../helpers/served-release.js';

interface LoggedEvent extends LogFields {
  event: string;
}

function capturingLogger(events: LoggedEvent[], onEvent: (event: LoggedEvent) => void = () => undefined): Logger {
  const record = (event: string, fields: LogFields = {}) => {
    const logged = { event, ...fields };
    events.push(logged);
    onEvent(logged);
  };
  return { debug: record, info: record, warn: record, error: record };
}

const DIFF_ID = `sha256:${'a'.repeat(64)}` as const;

t.test('progress is logged at a layer start and commit, in between at most once per interval, with rate and time left', async (t) => {
  const events: LoggedEvent[] = [];
  let clock = 0;
  const progress = new UpdateProgress(capturingLogger(events), 10_000, 2, { intervalMs: 1000, now: () => clock });
  progress.startLayer({ index: 1, diffID: DIFF_ID, via: 'full', tarBytes: 30_000 });
  const steps: [number, () => void][] = [
    [400, () => progress.resumedBytes(2000)],
    [900, () => progress.downloadedBytes(1000)],
    [1000, () => progress.downloadedBytes(1000)],
    [1500, () => progress.extractedBytes(8000)],
    [2000, () => progress.extractedBytes(4000)],
    [2500, () => progress.downloadedBytes(6000)],
  ];
  for (const [at, step] of steps) {
    clock = at;
    step();
  }
  progress.enter('commit');

  t.same(
    events.map(({ phase, bytes, total, resumed, tarBytes, bytesPerSecond, etaSeconds }) => ({ phase, bytes, total, resumed, tarBytes, bytesPerSecond, etaSeconds })),
    [
      { phase: 'fetch', bytes: 0, total: 10_000, resumed: 0, tarBytes: 0, bytesPerSecond: null, etaSeconds: null },
      // 2000 bytes over the network in the first second (the 2000 staged ones do not count towards the rate)
      { phase: 'fetch', bytes: 4000, total: 10_000, resumed: 2000, tarBytes: 0, bytesPerSecond: 2000, etaSeconds: 3 },
      { phase: 'fetch', bytes: 4000, total: 10_000, resumed: 2000, tarBytes: 12_000, bytesPerSecond: 0, etaSeconds: null },
      { phase: 'commit', bytes: 10_000, total: 10_000, resumed: 2000, tarBytes: 12_000, bytesPerSecond: 12_000, etaSeconds: 0 },
    ],
    'a start event, one event per interval of 1000 ms, and one at the phase change',
  );
  t.ok(events.every((event) => event.event === 'update.progress' && event.layer === '1/2' && event.diffID === DIFF_ID && event.via === 'full' && event.tarTotal === 30_000));

  progress.addDownload(5000);
  progress.startLayer({ index: 2, diffID: DIFF_ID, via: 'delta', tarBytes: 100 });
  t.match(events.at(-1), { phase: 'fetch', layer: '2/2', via: 'delta', bytes: 10_000, total: 15_000, tarBytes: 0 }, 'a new layer starts its tar count; a fallback adds its download');
});

t.test('an update logs progress while a slow source is still sending a layer', async (t) => {
  const { dir, trustPath, published, server } = await serveOneFileRelease(t, randomBytes(2 * 1024 * 1024));
  const blob = published.release.layers[0].blob;
  // a slow link that, after four chunks, sends nothing more until a progress event reports them
  const held = 4 * blob.chunkSize + 1000;
  let release = () => undefined as void;
  server.switches.holdAfter = { bytes: held, until: new Promise<void>((resolve) => (release = resolve)) };
  server.switches.trickle = { bytes: 32 * 1024, everyMs: 2 };
  let releasedBy: LoggedEvent | undefined;
  let sentWhenReleased: number | undefined;
  const events: LoggedEvent[] = [];
  const log = capturingLogger(events, (event) => {
    if (releasedBy === undefined && event.event === 'update.progress' && (event.bytes as number) >= 4 * blob.chunkSize) {
      releasedBy = event;
      sentWhenReleased = server.requests.find((request) => request.path === blobPath(blob.digest))?.sent;
      release();
    }
  });
  // each reading of the clock is one interval later: every chance to log is taken, whatever the machine's speed
  let clock = 0;
  const outcome = await update({
    source: openSource(server.url, { timeouts: { idleMs: 20_000 } }),
    channel: 'stable',
    storeRoot: join(dir, 'store'),
    trustPath,
    log,
    progress: { intervalMs: 1000, now: () => (clock += 1000) },
  });
  t.match(outcome, { changed: true, version: 1 });

  t.ok(releasedBy, 'a progress event reported the four chunks');
  t.ok(sentWhenReleased !== undefined && sentWhenReleased <= held, 'while the server still held the rest of the layer back');
  t.equal(server.requests.filter((request) => request.path === blobPath(blob.digest)).length, 1, 'and the download went on without a retry');
  const start = events.findIndex((event) => event.event === 'layer.fetch');
  const end = events.findIndex((event) => event.event === 'layer.installed');
  const between = events.slice(start + 1, end).filter((event) => event.event === 'update.progress');
  const bytes = between.map((event) => event.bytes as number);
  t.same(bytes, [...bytes].sort((a, b) => a - b), 'bytes only grow');
  t.ok(between.some((event) => event.phase === 'fetch' && (event.bytes as number) > 0 && (event.bytes as number) < blob.size), 'events in the middle of the download');
  t.ok(between.some((event) => event.phase === 'fetch' && (event.tarBytes as number) > 0), 'and of the extraction');
  t.ok(
    between.filter((event) => (event.bytes as number) > 0).every((event) => typeof event.bytesPerSecond === 'number' && (event.etaSeconds === null || typeof event.etaSeconds === 'number')),
    'each with a rate and the time left',
  );
  t.match(between.at(-1), { phase: 'commit', bytes: blob.size, total: blob.size, etaSeconds: 0, tarBytes: published.release.layers[0].size }, 'the commit phase is logged with everything done');
});
