import { DockerfileParser, ModifiableInstruction, PropertyInstruction, type Instruction } from 'dockerfile-ast';
import { PrtiqlError } from '../../../../shared/errors.js';

/** Every instruction of the Dockerfile reference, with the flags each accepts here. */
const INSTRUCTION_FLAGS: Readonly<Record<string, readonly string[]>> = {
  FROM: ['platform'],
  ARG: [],
  ENV: [],
  LABEL: [],
  WORKDIR: [],
  USER: [],
  EXPOSE: [],
  VOLUME: [],
  STOPSIGNAL: [],
  ENTRYPOINT: [],
  CMD: [],
  SHELL: [],
  HEALTHCHECK: ['interval', 'timeout', 'start-period', 'retries'],
  ONBUILD: [],
  MAINTAINER: [],
  COPY: ['from', 'chown', 'chmod'],
  ADD: ['chown', 'chmod'],
  RUN: ['network'],
};

export interface DockerfileFlag {
  name: string;
  /** null for a flag written without `=value`. */
  value: string | null;
}

/** A `name=value` pair of ENV, LABEL or ARG; `raw` keeps quotes and escapes for expansion. */
export interface DockerfileProperty {
  name: string;
  /** null for `ARG NAME` without a default. */
  raw: string | null;
}

export interface DockerfileInstruction {
  /** 1-based line of the keyword. */
  line: number;
  keyword: string;
  flags: DockerfileFlag[];
  /** The arguments after the flags, split at whitespace, quotes and escapes still in place. */
  words: string[];
  /** The arguments after the flags as one string, line continuations and comments removed. */
  content: string;
  /** The arguments when they are a JSON array of strings (exec form). */
  execForm?: string[];
  /** ENV, LABEL and ARG pairs. */
  properties: DockerfileProperty[];
}

export interface DockerfileStage {
  /** Position among the FROMs, from 0. */
  index: number;
  /** The name after `AS`, lowercase as docker compares it. */
  name?: string;
  from: DockerfileInstruction;
  instructions: DockerfileInstruction[];
}

export interface ParsedDockerfile {
  /** How messages name the file: its base name. */
  name: string;
  /** The escape character (`# escape=` directive), `\` by default. */
  escape: string;
  /** ARGs before the first FROM: in scope of every FROM line. */
  globalArgs: DockerfileInstruction[];
  stages: DockerfileStage[];
}

/** One error line that names the file and the line, e.g. `Dockerfile:7: ...`. */
export function dockerfileError(code: PrtiqlError['code'], file: string, line: number, problem: string, cause?: unknown): PrtiqlError {
  return new PrtiqlError(code, `${file}:${line}: ${problem}`, cause === undefined ? undefined : { cause });
}

/** The strings of a JSON array of strings (exec form); undefined for anything else. */
export function jsonArray(content: string): string[] | undefined {
  if (!content.trimStart().startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(content);
    return Array.isArray(value) && value.every((item) => typeof item === 'string') ? value : undefined;
  } catch {
    return undefined;
  }
}

function convert(instruction: Instruction, name: string): DockerfileInstruction {
  const line = instruction.getRange().start.line + 1;
  const keyword = instruction.getKeyword().toUpperCase();
  const allowedFlags = INSTRUCTION_FLAGS[keyword];
  if (allowedFlags === undefined) {
    throw dockerfileError('E_BAD_INPUT', name, line, `unknown instruction ${instruction.getInstruction()}`);
  }
  const flags = instruction instanceof ModifiableInstruction
    ? instruction.getFlags().map((flag) => ({ name: flag.getName(), value: flag.getValue() }))
    : [];
  for (const flag of flags) {
    if (!allowedFlags.includes(flag.name)) throw dockerfileError('E_BAD_INPUT', name, line, `${keyword} does not support --${flag.name}`);
  }
  const words = instruction.getArguments().map((argument) => argument.getValue());
  if (words.some((word) => word.startsWith('<<')) && ['RUN', 'COPY', 'ADD'].includes(keyword)) {
    throw dockerfileError('E_BAD_INPUT', name, line, `${keyword} with a here-document is not supported`);
  }
  const content = instruction.getArgumentsContent() ?? '';
  const properties = instruction instanceof PropertyInstruction
    ? instruction.getProperties().map((property) => ({ name: property.getName(), raw: property.getUnescapedValue() }))
    : [];
  const execForm = jsonArray(content);
  return { line, keyword, flags, words, content, properties, ...(execForm && { execForm }) };
}

function stageName(from: DockerfileInstruction, file: string): string | undefined {
  const { words } = from;
  if (words.length === 1) return undefined;
  if (words.length === 3 && words[1].toUpperCase() === 'AS') return words[2].toLowerCase();
  throw dockerfileError('E_BAD_INPUT', file, from.line, 'FROM expects <image> [AS <name>]');
}

/** Parses a Dockerfile with dockerfile-ast and groups its instructions into stages. */
export function parseDockerfile(text: string, name: string): ParsedDockerfile {
  const document = DockerfileParser.parse(text);
  const parsed: ParsedDockerfile = { name, escape: document.getEscapeCharacter(), globalArgs: [], stages: [] };
  for (const raw of document.getInstructions()) {
    const instruction = convert(raw, name);
    const current = parsed.stages.at(-1);
    if (instruction.keyword === 'FROM') {
      const stage: DockerfileStage = { index: parsed.stages.length, from: instruction, instructions: [] };
      const alias = stageName(instruction, name);
      if (alias !== undefined) {
        if (parsed.stages.some((other) => other.name === alias)) {
          throw dockerfileError('E_BAD_INPUT', name, instruction.line, `stage name ${alias} is used twice`);
        }
        stage.name = alias;
      }
      parsed.stages.push(stage);
    } else if (current) {
      current.instructions.push(instruction);
    } else if (instruction.keyword === 'ARG') {
      parsed.globalArgs.push(instruction);
    } else {
      throw dockerfileError('E_BAD_INPUT', name, instruction.line, `${instruction.keyword} before the first FROM (only ARG may come first)`);
    }
  }
  if (parsed.stages.length === 0) throw new PrtiqlError('E_BAD_INPUT', `${name}: no FROM instruction`);
  return parsed;
}
