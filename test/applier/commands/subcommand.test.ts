import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import t from 'tap';
import { COMMANDS } from '../../../applier/commands/commands.js';
import { COMMON_OPTIONS } from '../../../applier/commands/common-options.js';
import { parseContainerName, parseSeconds } from '../../../applier/commands/container-options.js';
import { applierHelp, commandHelp } from '../../../applier/commands/help.js';
import { parseCommandLine, type OptionTable } from '../../../applier/commands/subcommand.js';
import { sourceFiles } from '../../helpers/source-files.js';

const applierRoot = join(import.meta.dirname, '../../../applier');

t.test('argv is parsed only in applier/commands/', async (t) => {
  const parsing = sourceFiles(applierRoot)
    .map((path) => relative(applierRoot, path))
    .filter((file) => !file.startsWith('commands/') && file !== 'main.ts')
    .filter((file) => /\bparseArgs\b|commands\/(subcommand|container-options)\.js/.test(readFileSync(join(applierRoot, file), 'utf8')));
  t.same(parsing, []);
});

const TABLE = {
  store: { type: 'string', placeholder: 'dir', required: true, description: 'the store' },
  mode: { type: 'string', placeholder: 'mode', choices: ['a', 'b'], default: 'a', env: 'TEST_MODE', description: 'a mode' },
  label: { type: 'string', placeholder: 'text', description: 'a label' },
  follow: { type: 'boolean', description: 'follow' },
  help: { type: 'boolean', short: 'h', description: 'help' },
} as const satisfies OptionTable;

t.test('options are parsed from the table: defaults, variables, choices; every mistake is E_USAGE naming the command', async (t) => {
  const parse = (args: string[], env: NodeJS.ProcessEnv = {}) => parseCommandLine('gc', TABLE, [], args, env);
  t.same(parse(['--store', '/s']).values, { store: '/s', mode: 'a', label: undefined, follow: false, help: false });
  t.same(parse(['--store=/s', '--mode', 'b', '--label', 'x', '--follow']).values, { store: '/s', mode: 'b', label: 'x', follow: true, help: false });
  t.equal(parse(['--store', '/s'], { TEST_MODE: 'b' }).values.mode, 'b', 'the variable when the option is not given');
  t.equal(parse(['--store', '/s', '--mode', 'a'], { TEST_MODE: 'b' }).values.mode, 'a', 'the option wins over the variable');
  t.throws(() => parse(['--store', '/s'], { TEST_MODE: 'c' }), { code: 'E_USAGE', message: /^gc: TEST_MODE is a, b, not "c"/ });
  t.same(parse(['--help']), { help: true, values: {}, positionals: [] }, '--help without the required options');
  t.ok(parse(['-h', '--mode', 'zzz']).help, 'and without checking the others');
  for (const [args, message] of [
    [[], /^gc: --store is required \(see applier gc --help\)$/],
    [['--store', ''], /--store is required/],
    [['--stor', '/s'], /^gc: Unknown option '--stor'/],
    [['--store', '/s', 'stray'], /^gc: unexpected argument "stray"/],
    [['--store', '/s', '--mode', 'c'], /^gc: --mode is a, b, not "c"/],
    [['--store', '/s', '--label', ''], /^gc: --label is empty/],
    [['--store', '/s', '--follow=yes'], /^gc: /],
    [['--store'], /^gc: /],
  ] as const) {
    t.throws(() => parse([...args]), { code: 'E_USAGE', message }, args.join(' '));
  }
});

t.test('positionals are checked against their declaration', async (t) => {
  const positionals = [
    { name: 'action', description: 'what to do', required: true, choices: ['mark-good', 'clear'] },
    { name: 'version', description: 'a version' },
  ] as const;
  const parse = (args: string[]) => parseCommandLine('health', { store: TABLE.store }, positionals, args, {});
  t.same(parse(['clear', '3', '--store', '/s']).positionals, ['clear', '3']);
  t.same(parse(['mark-good', '--store', '/s']).positionals, ['mark-good']);
  t.throws(() => parse(['--store', '/s']), { code: 'E_USAGE', message: /<action> is required/ });
  t.throws(() => parse(['forget', '--store', '/s']), { code: 'E_USAGE', message: /<action> is mark-good, clear, not "forget"/ });
  t.throws(() => parse(['clear', '3', '4', '--store', '/s']), { code: 'E_USAGE', message: /unexpected argument "4"/ });
});

t.test('container names are runc ids and directory names; seconds are non-negative numbers', async (t) => {
  t.equal(parseContainerName('run', 'web-1.a_b+c'), 'web-1.a_b+c');
  for (const bad of ['', '..', '.hidden', 'a/b', 'a b', 'x'.repeat(129)]) {
    t.throws(() => parseContainerName('run', bad), { code: 'E_USAGE' }, JSON.stringify(bad));
  }
  t.equal(parseSeconds('stop', 'timeout', '2.5'), 2.5);
  for (const bad of ['', ' ', '-1', 'ten', 'Infinity']) t.throws(() => parseSeconds('stop', 'timeout', bad), { code: 'E_USAGE' }, JSON.stringify(bad));
});

t.test('every option of every command has a description and is in its help, with its default, choices and variable', async (t) => {
  const names = COMMANDS.map((command) => command.declaration.name);
  t.same(names, [...new Set(names)], 'command names are unique');
  for (const command of COMMANDS) {
    const { name, examples, positionals = [], environment = {} } = command.declaration;
    const help = commandHelp(command);
    t.match(help, new RegExp(`^applier ${name}: \\S`), `${name}: its help starts with its summary`);
    t.ok(examples.length > 0, `${name}: has examples`);
    for (const example of examples) t.ok(help.includes(`  ${example}\n`), `${name}: example ${example}`);
    for (const positional of positionals) t.ok(help.includes(`<${positional.name}>`), `${name}: <${positional.name}>`);
    for (const [variable, text] of Object.entries(environment)) t.match(help, new RegExp(`\\n  ${variable} +${text.split(' ')[0]}`), `${name}: ${variable}`);
    const options = Object.entries(command.options);
    t.ok(options.some(([flag]) => flag === 'help') && options.some(([flag]) => flag === 'log-level'), `${name}: has the common options`);
    for (const [flag, option] of options) {
      t.ok(option.description.trim().length >= 10, `${name} --${flag} has a description`);
      const line = help.split('\n').findIndex((text) => new RegExp(`^  (-\\w, )?--${flag}( <|  |$)`).test(text));
      t.ok(line >= 0, `${name} --${flag} is in its help`);
      const entry = help.split('\n').slice(line).join(' ').replace(/\s+/g, ' ');
      t.ok(entry.includes(option.description.split(' ').slice(0, 3).join(' ')), `${name} --${flag}: its description follows it`);
      if (option.type === 'string') {
        if (option.default !== undefined) t.ok(entry.includes(`default ${option.default}`), `${name} --${flag}: its default`);
        if (option.choices) t.ok(entry.includes(`one of ${option.choices.join(', ')}`), `${name} --${flag}: its choices`);
        if (option.env) t.ok(entry.includes(`env ${option.env}`), `${name} --${flag}: its variable`);
      }
    }
  }
  const overview = applierHelp(COMMANDS);
  for (const command of COMMANDS) {
    const { name, summary, hidden } = command.declaration;
    t.equal(overview.includes(`  applier ${name} `), !hidden, `${name} is ${hidden ? 'not ' : ''}listed`);
    if (!hidden) t.ok(overview.replace(/\s+/g, ' ').includes(summary), `${name}: its summary is listed`);
  }
  for (const flag of Object.keys(COMMON_OPTIONS)) t.match(overview, new RegExp(`\\n  (-\\w, )?--${flag}\\b`), `the command list shows --${flag}`);
});
