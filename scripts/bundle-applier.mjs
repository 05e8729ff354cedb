#!/usr/bin/env node
// Bundles the device applier into one self-contained file (Node built-ins only) and refuses
// a bundle that pulled in build-side code.
// usage: node scripts/bundle-applier.mjs [--entry applier/main.ts] [--outfile dist/applier.js]
import { chmod, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    entry: { type: 'string', default: 'applier/main.ts' },
    outfile: { type: 'string', default: 'dist/applier.js' },
  },
});
const outfile = resolve(root, values.outfile);
const temp = `${outfile}.tmp-${process.pid}`;

/** Inputs that must never reach the device: the CLI and the build-side libraries. */
const FORBIDDEN = [/(^|\/)node_modules\/(@oclif|@aws-sdk|undici|bsdiff-node)\//, /^cli\//];

const { version } = JSON.parse(await readFile(resolve(root, 'package.json'), 'utf8'));

await mkdir(dirname(outfile), { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: [values.entry],
  outfile: temp,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node18',
  minify: true,
  legalComments: 'none',
  banner: { js: '#!/usr/bin/env node' },
  define: { BUNDLED_APPLIER_VERSION: JSON.stringify(version) },
  metafile: true,
  logLevel: 'warning',
});

const forbidden = Object.keys(result.metafile.inputs).filter((input) => FORBIDDEN.some((pattern) => pattern.test(input)));
if (forbidden.length > 0) {
  await rm(temp, { force: true });
  console.error(`applier bundle refused: it contains build-side code:\n  ${forbidden.join('\n  ')}`);
  process.exit(1);
}
await chmod(temp, 0o755);
await rename(temp, outfile);
const { size } = await stat(outfile);
console.log(`${relative(process.cwd(), outfile) || outfile}: ${size} bytes (${(size / 1024).toFixed(1)} KiB)`);
