import t from 'tap';
import { createLogger, type LogSettings } from '../../applier/log.js';

function logged(settings: LogSettings, write: (log: ReturnType<typeof createLogger>) => void, isTTY?: boolean): string[] {
  const lines: string[] = [];
  write(createLogger({ write: (line: string) => lines.push(line), isTTY }, settings));
  return lines;
}

const everyLevel = (log: ReturnType<typeof createLogger>) => {
  log.debug('a.debug');
  log.info('a.info');
  log.warn('a.warn');
  log.error('a.error');
};

t.test('a level shows itself and the more severe ones', async (t) => {
  const events = (level: LogSettings['level']) => logged({ level, format: 'json' }, everyLevel).map((line) => JSON.parse(line).event);
  t.same(events('debug'), ['a.debug', 'a.info', 'a.warn', 'a.error']);
  t.same(events('info'), ['a.info', 'a.warn', 'a.error']);
  t.same(events('warn'), ['a.warn', 'a.error']);
  t.same(events('error'), ['a.error']);
});

t.test('JSON lines, or text lines with the fields as key=value, quoted where needed', async (t) => {
  const fields = { plain: 'stable', spaced: 'two words', quoted: 'say "hi"', equals: 'a=b', count: 3, flag: false, none: null, left: undefined };
  const [json] = logged({ level: 'info', format: 'json' }, (log) => log.warn('network.retry', fields));
  t.match(JSON.parse(json!), { level: 'warn', event: 'network.retry', plain: 'stable', spaced: 'two words', count: 3, flag: false, none: null });
  t.match(json, /^\{"time":"\d{4}-\d\d-\d\dT[^"]+Z","level":"warn","event":"network\.retry",/);
  t.notOk('left' in JSON.parse(json!), 'undefined fields are left out');
  const [text] = logged({ level: 'info', format: 'text' }, (log) => log.warn('network.retry', fields));
  t.match(text, /^\d\d:\d\d:\d\d\.\d{3} WARN  network\.retry plain=stable spaced="two words" quoted="say \\"hi\\"" equals="a=b" count=3 flag=false none=null\n$/);
});

t.test('without a format: text on a terminal, JSON anywhere else', async (t) => {
  t.match(logged({ level: 'info' }, (log) => log.info('x.y', { a: 1 }), true), [/^\d\d:\d\d:\d\d\.\d{3} INFO {2}x\.y a=1\n$/]);
  t.match(logged({ level: 'info' }, (log) => log.info('x.y', { a: 1 }), false), [/^\{"time":"[^"]+","level":"info","event":"x\.y","a":1\}\n$/]);
  t.match(logged({ level: 'info' }, (log) => log.info('x.y', { a: 1 })), [/^\{/]);
});
