import { PrtiqlError } from '../../../../shared/errors.js';
import type { ContainerConfig, HealthConfig } from '../../../../shared/oci.js';
import { jsonArray, type DockerfileInstruction } from './parse-dockerfile.js';

export const DEFAULT_SHELL = ['/bin/sh', '-c'];

/** The image's Env as a map, later entries winning. */
export function envMap(config: ContainerConfig): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of config.Env ?? []) {
    const separator = entry.indexOf('=');
    if (separator > 0) env.set(entry.slice(0, separator), entry.slice(separator + 1));
  }
  return env;
}

/** Sets one variable, keeping the position of an existing one (as docker does). */
export function setEnv(config: ContainerConfig, name: string, value: string): void {
  if (name === '' || name.includes('=')) throw new PrtiqlError('E_BAD_INPUT', `invalid environment variable name ${JSON.stringify(name)}`);
  const env = config.Env ?? [];
  const index = env.findIndex((entry) => entry.startsWith(`${name}=`));
  if (index >= 0) env[index] = `${name}=${value}`;
  else env.push(`${name}=${value}`);
  config.Env = env;
}

/** Exec form as written; shell form run by the stage's shell (SHELL, default /bin/sh -c). */
export function commandLine(instruction: DockerfileInstruction, shell: readonly string[]): string[] {
  if (instruction.execForm) return instruction.execForm;
  if (instruction.content.trim() === '') throw new PrtiqlError('E_BAD_INPUT', `${instruction.keyword} needs a command`);
  return [...shell, instruction.content];
}

/** `80`, `80/tcp`, `53/udp` → the ExposedPorts key. */
export function exposedPort(word: string): string {
  const [port, protocol = 'tcp', ...rest] = word.split('/');
  const number = Number(port);
  if (rest.length > 0 || !/^[0-9]+$/.test(port) || number < 1 || number > 65535 || !['tcp', 'udp', 'sctp'].includes(protocol.toLowerCase())) {
    throw new PrtiqlError('E_BAD_INPUT', `EXPOSE ${word} is not <port>[/tcp|udp|sctp]`);
  }
  return `${number}/${protocol.toLowerCase()}`;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds. */
export function parseDuration(text: string, flag: string): number {
  const parts = [...text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== text) {
    throw new PrtiqlError('E_BAD_INPUT', `--${flag}=${text} is not a duration such as 30s or 1m30s`);
  }
  return Math.round(parts.reduce((sum, [, amount, unit]) => sum + Number(amount) * DURATION_UNITS[unit], 0));
}

/** `HEALTHCHECK NONE` or `HEALTHCHECK [--interval=...] CMD <command>`. */
export function healthcheck(instruction: DockerfileInstruction, flags: ReadonlyMap<string, string>): HealthConfig {
  const kind = instruction.words[0]?.toUpperCase();
  if (kind === 'NONE') {
    if (instruction.words.length > 1 || flags.size > 0) throw new PrtiqlError('E_BAD_INPUT', 'HEALTHCHECK NONE takes no arguments');
    return { Test: ['NONE'] };
  }
  if (kind !== 'CMD') throw new PrtiqlError('E_BAD_INPUT', 'HEALTHCHECK expects NONE or CMD <command>');
  const command = instruction.content.trimStart().slice('CMD'.length).trim();
  const exec = jsonArray(command);
  const config: HealthConfig = { Test: exec ? ['CMD', ...exec] : ['CMD-SHELL', command] };
  const durations = { interval: 'Interval', timeout: 'Timeout', 'start-period': 'StartPeriod' } as const;
  for (const [flag, field] of Object.entries(durations)) {
    const value = flags.get(flag);
    if (value !== undefined) config[field] = parseDuration(value, flag);
  }
  const retries = flags.get('retries');
  if (retries !== undefined) {
    if (!/^[0-9]+$/.test(retries)) throw new PrtiqlError('E_BAD_INPUT', `--retries=${retries} is not a number`);
    config.Retries = Number(retries);
  }
  return config;
}
