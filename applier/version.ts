import { readFileSync } from 'node:fs';

/** Set by scripts/bundle-applier.mjs from package.json. */
declare const BUNDLED_APPLIER_VERSION: string | undefined;

/** The applier's version: the bundle's, or package.json's when it runs from source. */
export function applierVersion(): string {
  if (typeof BUNDLED_APPLIER_VERSION === 'string') return BUNDLED_APPLIER_VERSION;
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}
