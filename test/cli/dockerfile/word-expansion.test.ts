import t from 'tap';
import { expandWord } from '../../../cli/src/lib/dockerfile/word-expansion.js';

const variables = new Map([['NAME', 'app'], ['EMPTY', ''], ['PATH_', '/srv']]);

t.test('variables expand as in docker: $NAME, ${NAME} and the sh modifiers', async (t) => {
  const cases: [string, string][] = [
    ['$NAME', 'app'],
    ['${NAME}-1', 'app-1'],
    ['$NAME.txt', 'app.txt'],
    ['$UNSET', ''],
    ['${UNSET:-fallback}', 'fallback'],
    ['${EMPTY:-fallback}', 'fallback'],
    ['${EMPTY-fallback}', ''],
    ['${UNSET-fallback}', 'fallback'],
    ['${NAME:+set}', 'set'],
    ['${EMPTY:+set}', ''],
    ['${EMPTY+set}', 'set'],
    ['${UNSET:-$PATH_/x}', '/srv/x'],
    ['a$', 'a$'],
    ['$1', ''],
  ];
  for (const [word, expected] of cases) t.equal(expandWord(word, variables), expected, word);
});

t.test('quotes and the escape character', async (t) => {
  t.equal(expandWord('"$NAME with spaces"', variables), 'app with spaces');
  t.equal(expandWord("'$NAME'", variables), '$NAME', 'single quotes keep $ literal');
  t.equal(expandWord('\\$NAME', variables), '$NAME');
  t.equal(expandWord('"a\\"b"', variables), 'a"b');
  t.equal(expandWord('"a\\nb"', variables), 'a\\nb', 'other escapes stay inside double quotes');
  t.equal(expandWord('`$NAME', variables, '`'), '$NAME', 'the escape directive changes the character');
  t.equal(expandWord('C:\\dir', variables, '`'), 'C:\\dir');
});

t.test('malformed words are one-line E_BAD_INPUT errors', async (t) => {
  t.throws(() => expandWord('"open', variables), { code: 'E_BAD_INPUT', message: /double-quote/ });
  t.throws(() => expandWord("'open", variables), { code: 'E_BAD_INPUT', message: /single-quote/ });
  t.throws(() => expandWord('${NAME', variables), { code: 'E_BAD_INPUT' });
  t.throws(() => expandWord('${NAME/x/y}', variables), { code: 'E_BAD_INPUT', message: /unsupported modifier/ });
  t.throws(() => expandWord('${UNSET:?needs a value}', variables), { code: 'E_BAD_INPUT', message: /UNSET: needs a value/ });
  t.equal(expandWord('${NAME:?x}', variables), 'app');
});
