import { COMMON_OPTIONS } from './common-options.js';
import type { OptionDeclaration, OptionTable, Subcommand } from './subcommand.js';

const WIDTH = 100;

/** Words filled into lines that end by column WIDTH, each line starting at column `indent`. */
function wrap(text: string, indent: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && indent + line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

type Row = [name: string, text: string];

/** The column the texts of these rows start at. */
function textColumn(rows: Row[]): number {
  return Math.min(Math.max(...rows.map(([name]) => name.length)) + 4, 36);
}

/** Rows of `name  text`, the texts aligned and wrapped; a name too long for the column gets a line of its own. */
function table(rows: Row[], column = textColumn(rows)): string {
  return rows
    .map(([name, text]) => {
      const head = `  ${name}`;
      const gap = head.length + 2 > column ? `\n${' '.repeat(column)}` : ' '.repeat(column - head.length);
      return `${head}${gap}${wrap(text, column)}`;
    })
    .join('\n');
}

function flagName(flag: string, option: OptionDeclaration): string {
  const long = option.type === 'string' ? `--${flag} <${option.placeholder}>` : `--${flag}`;
  return option.type === 'boolean' && option.short ? `-${option.short}, ${long}` : long;
}

function optionText(option: OptionDeclaration): string {
  if (option.type === 'boolean') return option.description;
  const notes = [
    option.required && 'required',
    option.choices && `one of ${option.choices.join(', ')}`,
    option.default !== undefined && `default ${option.default}`,
    option.env && `env ${option.env}`,
  ].filter(Boolean);
  return notes.length === 0 ? option.description : `${option.description} (${notes.join('; ')})`;
}

function optionRows(options: OptionTable): Row[] {
  return Object.entries(options).map(([flag, option]) => [flagName(flag, option), optionText(option)]);
}

/** `applier <name> <positionals> --required <value> [options]`. */
export function usageLine(command: Subcommand): string {
  const { name, positionals = [], options } = command.declaration;
  const words = [
    `applier ${name}`,
    ...positionals.map((positional) => (positional.required ? `<${positional.name}>` : `[<${positional.name}>]`)),
    ...Object.entries(options).flatMap(([flag, option]) => (option.type === 'string' && option.required ? [flagName(flag, option)] : [])),
    '[options]',
  ];
  return words.join(' ');
}

/** `applier <name> --help`: usage, description, every option, environment, examples. */
export function commandHelp(command: Subcommand): string {
  const { name, summary, description, positionals = [], options, environment = {}, examples } = command.declaration;
  const ownRows = optionRows(options);
  const commonRows = optionRows(COMMON_OPTIONS);
  const argumentRows = positionals.map((positional): Row => [
    `<${positional.name}>`,
    positional.choices ? `${positional.description} (one of ${positional.choices.join(', ')})` : positional.description,
  ]);
  const column = textColumn([...argumentRows, ...ownRows, ...commonRows]);
  const sections = [
    `applier ${name}: ${summary}`,
    `usage:\n  ${usageLine(command)}`,
    description && wrap(description, 0),
    argumentRows.length > 0 && `arguments:\n${table(argumentRows, column)}`,
    ownRows.length > 0 && `options:\n${table(ownRows, column)}`,
    `common options:\n${table(commonRows, column)}`,
    Object.keys(environment).length > 0 && `environment:\n${table(Object.entries(environment))}`,
    `examples:\n${examples.map((example) => `  ${example}`).join('\n')}`,
  ];
  return `${sections.filter(Boolean).join('\n\n')}\n`;
}

/** `applier --help`: every command with its usage and summary. */
export function applierHelp(commands: readonly Subcommand[]): string {
  const listed = commands.filter((command) => !command.declaration.hidden);
  return [
    'usage: applier <command> [options]',
    'The device side of PRTIQL: installs signed releases into a device store and runs them with runc.',
    `commands:\n${listed.map((command) => `  ${usageLine(command)}\n      ${wrap(command.declaration.summary, 6)}`).join('\n')}`,
    `common options of every command:\n${table(optionRows(COMMON_OPTIONS))}`,
    [
      'applier <command> --help, applier help <command>   a command\'s options, environment and examples',
      'applier --version                                  the applier\'s version',
    ].join('\n'),
  ].join('\n\n') + '\n';
}
