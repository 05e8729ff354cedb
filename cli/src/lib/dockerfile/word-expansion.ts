import { PrtiqlError } from '../../../../shared/errors.js';

/** Variables in scope: build arguments overlaid with the stage's environment. */
export type Variables = ReadonlyMap<string, string>;

const NAME_CHAR = /[A-Za-z0-9_]/;

/**
 * Processes one Dockerfile word the way docker's shell lexer does for the instructions that
 * expand variables (FROM, ARG, ENV, LABEL, COPY, ADD, WORKDIR, USER, EXPOSE, VOLUME,
 * STOPSIGNAL): quotes are removed, the escape character takes the next character literally,
 * `$NAME` and `${NAME}` expand outside single quotes, and `${NAME:-word}`, `${NAME-word}`,
 * `${NAME:+word}`, `${NAME+word}`, `${NAME:?message}` and `${NAME?message}` behave as in sh.
 * Unset variables expand to nothing.
 */
export function expandWord(word: string, variables: Variables, escape = '\\'): string {
  return new WordLexer(word, variables, escape).until(undefined);
}

class WordLexer {
  private position = 0;

  constructor(
    private readonly text: string,
    private readonly variables: Variables,
    private readonly escape: string,
  ) {}

  private fail(problem: string): never {
    throw new PrtiqlError('E_BAD_INPUT', `${problem} in ${JSON.stringify(this.text)}`);
  }

  private peek(): string | undefined {
    return this.text[this.position];
  }

  private next(): string | undefined {
    return this.text[this.position++];
  }

  /** Reads up to `stop` (consumed) or the end of the word when `stop` is undefined. */
  until(stop: string | undefined): string {
    let out = '';
    for (;;) {
      const ch = this.next();
      if (ch === undefined) {
        if (stop !== undefined) this.fail(`missing '${stop}'`);
        return out;
      }
      if (ch === stop) return out;
      if (ch === this.escape) {
        const escaped = this.next();
        if (escaped !== undefined) out += escaped;
      } else if (ch === "'") {
        out += this.singleQuoted();
      } else if (ch === '"') {
        out += this.doubleQuoted();
      } else if (ch === '$') {
        out += this.dollar();
      } else {
        out += ch;
      }
    }
  }

  private singleQuoted(): string {
    const end = this.text.indexOf("'", this.position);
    if (end < 0) this.fail('unexpected end of statement while looking for matching single-quote');
    const literal = this.text.slice(this.position, end);
    this.position = end + 1;
    return literal;
  }

  private doubleQuoted(): string {
    let out = '';
    for (;;) {
      const ch = this.next();
      if (ch === undefined) this.fail('unexpected end of statement while looking for matching double-quote');
      if (ch === '"') return out;
      if (ch === '$') {
        out += this.dollar();
      } else if (ch === this.escape && (this.peek() === '"' || this.peek() === '$' || this.peek() === this.escape)) {
        out += this.next();
      } else {
        out += ch;
      }
    }
  }

  private name(): string {
    let name = '';
    while (this.peek() !== undefined && NAME_CHAR.test(this.peek()!)) name += this.next();
    return name;
  }

  private dollar(): string {
    if (this.peek() !== '{') {
      const name = this.name();
      return name === '' ? '$' : (this.variables.get(name) ?? '');
    }
    this.next();
    const name = this.name();
    if (name === '') this.fail('bad substitution');
    const value = this.variables.get(name);
    let operator = this.next();
    if (operator === '}') return value ?? '';
    const colon = operator === ':';
    if (colon) operator = this.next();
    if (operator !== '-' && operator !== '+' && operator !== '?') this.fail(`unsupported modifier in \${${name}...}`);
    const word = this.until('}');
    const set = value !== undefined && (!colon || value !== '');
    switch (operator) {
      case '-':
        return set ? value : word;
      case '+':
        return set ? word : '';
      default:
        if (!set) this.fail(`${name}: ${word || 'is not set'}`);
        return value;
    }
  }
}
