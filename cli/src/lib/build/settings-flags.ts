import { PrtiqlError } from '../../../../shared/errors.js';
import type { BuildSpec, ImageSettings } from './build-spec.js';

/** `["/bin/app","--serve"]` (a JSON array of strings) or `/bin/app` (one argument). */
export function parseCommandLine(value: string, flag: string): string[] {
  if (!value.trimStart().startsWith('[')) return [value];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new PrtiqlError('E_USAGE', `${flag} looks like a JSON array but is not valid JSON: ${value}`);
  }
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) {
    throw new PrtiqlError('E_USAGE', `${flag} must be a JSON array of strings or a single string`);
  }
  return parsed;
}

/** Repeated KEY=VALUE flags; a later KEY replaces an earlier one. */
export function parseKeyValues(values: readonly string[], flag: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const item of values) {
    const split = item.indexOf('=');
    if (split <= 0) throw new PrtiqlError('E_USAGE', `${flag} expects KEY=VALUE, got ${JSON.stringify(item)}`);
    result[item.slice(0, split)] = item.slice(split + 1);
  }
  return result;
}

/** Command-line settings over a spec: scalars replace, env and labels merge key by key. */
export function applySettings(spec: BuildSpec, overrides: ImageSettings): BuildSpec {
  const merged: BuildSpec = { ...spec };
  if (overrides.entrypoint) merged.entrypoint = overrides.entrypoint;
  if (overrides.cmd) merged.cmd = overrides.cmd;
  if (overrides.workdir) merged.workdir = overrides.workdir;
  if (overrides.user) merged.user = overrides.user;
  if (overrides.env) merged.env = { ...spec.env, ...overrides.env };
  if (overrides.labels) merged.labels = { ...spec.labels, ...overrides.labels };
  return merged;
}
