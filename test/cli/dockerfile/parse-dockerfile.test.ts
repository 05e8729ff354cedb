import t from 'tap';
import { parseDockerfile } from '../../../cli/src/lib/dockerfile/parse-dockerfile.js';

t.test('stages, global ARGs, flags, exec and shell forms, continuations', async (t) => {
  const parsed = parseDockerfile(
    [
      'ARG BASE=scratch',
      'FROM ${BASE} AS Builder',
      'RUN --network=none echo a \\',
      '  && echo b',
      'FROM scratch',
      'COPY --from=builder --chmod=0755 ["a b", "/dst/"]',
      'ENV A=1 B="two words"',
      'CMD ["run", "--fast"]',
    ].join('\n'),
    'Dockerfile',
  );
  t.equal(parsed.escape, '\\');
  t.same(parsed.globalArgs.map((arg) => arg.properties), [[{ name: 'BASE', raw: 'scratch' }]]);
  t.equal(parsed.stages.length, 2);
  t.equal(parsed.stages[0].name, 'builder', 'stage names are lowercase');
  const [run] = parsed.stages[0].instructions;
  t.match(run, { line: 3, keyword: 'RUN', flags: [{ name: 'network', value: 'none' }], content: 'echo a   && echo b' });
  t.notOk(run.execForm);
  const [copy, env, cmd] = parsed.stages[1].instructions;
  t.same(copy.execForm, ['a b', '/dst/'], 'JSON arguments keep their spaces');
  t.same(copy.flags.map((flag) => flag.name), ['from', 'chmod']);
  t.same(env.properties, [{ name: 'A', raw: '1' }, { name: 'B', raw: '"two words"' }]);
  t.same(cmd.execForm, ['run', '--fast']);
});

t.test('the escape directive is honoured', async (t) => {
  const parsed = parseDockerfile('# escape=`\nFROM scratch\nCOPY a `\n  b /\n', 'Dockerfile');
  t.equal(parsed.escape, '`');
  t.same(parsed.stages[0].instructions[0].words, ['a', 'b', '/']);
});

t.test('errors name the file and the line', async (t) => {
  t.throws(() => parseDockerfile('FROM scratch\n\nFETCH x\n', 'Dockerfile'), { code: 'E_BAD_INPUT', message: 'Dockerfile:3: unknown instruction FETCH' });
  t.throws(() => parseDockerfile('ENV A=1\nFROM scratch\n', 'Dockerfile'), { message: /Dockerfile:1: ENV before the first FROM/ });
  t.throws(() => parseDockerfile('# nothing\n', 'Dockerfile'), { message: /no FROM instruction/ });
  t.throws(() => parseDockerfile('FROM scratch\nCOPY --link a /\n', 'app.Dockerfile'), { message: 'app.Dockerfile:2: COPY does not support --link' });
  t.throws(() => parseDockerfile('FROM scratch AS a\nFROM scratch AS A\n', 'Dockerfile'), { message: /Dockerfile:2: stage name a is used twice/ });
  t.throws(() => parseDockerfile('FROM scratch\nRUN <<EOF\necho\nEOF\n', 'Dockerfile'), { message: /here-document is not supported/ });
  t.throws(() => parseDockerfile('FROM scratch as\n', 'Dockerfile'), { message: /FROM expects <image> \[AS <name>\]/ });
});
