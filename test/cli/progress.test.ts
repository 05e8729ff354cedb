import { Writable } from 'node:stream';
import t from 'tap';
import { Progress } from '../../cli/src/progress.js';

/** A non-terminal stream (a CI log) that keeps what is written. */
function pipe(isTTY = false): Writable & { text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  return Object.assign(stream, { isTTY, text: () => chunks.join('') });
}

t.test('on a pipe: a start line, a line per interval while the step advances, an end line', async (t) => {
  let now = 1_000;
  const out = pipe();
  const progress = new Progress('Uploading layer 1/2', 1000, out, { interval: 10_000, now: () => now });
  progress.advance(100);
  now += 9_999;
  progress.advance(100);
  t.equal(out.text(), 'Uploading layer 1/2...\n', 'nothing more before the interval has passed');
  now += 1;
  progress.advance(300);
  now += 5_000;
  progress.advance(100);
  now += 5_000;
  progress.advance(400);
  progress.finish('1000 bytes');
  t.equal(
    out.text(),
    ['Uploading layer 1/2...', 'Uploading layer 1/2: 500 of 1000 bytes (50%)', 'Uploading layer 1/2: 1000 of 1000 bytes (100%)', 'Uploading layer 1/2: 1000 bytes', ''].join('\n'),
  );
});

t.test('on a pipe without a known total the lines count bytes', async (t) => {
  let now = 0;
  const out = pipe();
  const progress = new Progress('Delta for layer 0123', undefined, out, { interval: 10, now: () => now });
  now = 10;
  progress.advance(4096);
  t.match(out.text(), /^Delta for layer 0123: 4096 bytes$/m);
  progress.finish();
});

t.test('on a terminal the bar is redrawn in place, never as new lines', async (t) => {
  let now = 0;
  const out = pipe(true);
  const progress = new Progress('Checking layer 1/1', 100, out, { interval: 10, now: () => now });
  now = 1_000;
  progress.advance(50);
  progress.finish();
  t.match(out.text(), /^\r\x1b\[KChecking layer 1\/1 \[#{12}\.{12}\] 50%\r\x1b\[KChecking layer 1\/1: done\n$/);
});


t.test('on a pipe a step that reports no bytes still gets a line per interval, until it finishes', async (t) => {
  let now = 0;
  const out = pipe();
  const lines = () => out.text().split('\n').filter(Boolean);
  const progress = new Progress('Delta for layer 0123', undefined, out, { interval: 1, now: () => now });
  now = 61_000;
  while (lines().length < 2) await new Promise((resolve) => setImmediate(resolve));
  t.equal(lines()[1], 'Delta for layer 0123: working, 61 s', 'the timer reports the time spent');
  progress.finish('900 bytes');
  const finished = lines().length;
  now = 122_000;
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(lines().length, finished, 'nothing after finish');
  t.equal(lines().at(-1), 'Delta for layer 0123: 900 bytes');
});
