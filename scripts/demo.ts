// End-to-end demo on embedded defaults: build v1 and v2 of an app (a shell entrypoint and a
// real node_modules tree of a few tens of MB), release both to a local directory store (v2
// with a delta from v1), serve it over HTTP on 127.0.0.1, update a local device directory to
// v1 then v2, and run the installed version with runc (or say what it needs to).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { createBusyboxRootfs, BUSYBOX_BINARY } from '../fixtures/busybox-rootfs.js';
import { serveDirectory } from './lib/static-server.js';
import { planDemoApp, writeDemoDependencies, type DemoAppPlan } from './lib/demo-app.js';
import { ensureDebianPackages } from './lib/debian-packages.mjs';

const repo = resolve(import.meta.dirname, '..');
const out = join(repo, 'demo-out');
const shown = (path: string) => relative(process.cwd(), path) || '.';

function step(title: string): void {
  process.stdout.write(`\n== ${title}\n`);
}

const run = promisify(execFile);
const PROGRAMS: Record<string, string[]> = {
  prtiql: [process.execPath, join(repo, 'cli/bin/run.js')],
  applier: [process.execPath, join(repo, 'dist/applier.js')],
};

/** Runs a command as a user would type it (printed first); asynchronous, so the HTTP server keeps serving. */
async function sh(command: string, args: string[]): Promise<string> {
  process.stdout.write(`$ ${[command, ...args].map((a) => (/[\s'"]/.test(a) ? `'${a}'` : a)).join(' ')}\n`);
  const [file, ...rest] = PROGRAMS[command] ?? [command];
  const child = run(file, [...rest, ...args], { encoding: 'utf8', maxBuffer: 16 << 20 });
  child.child.stderr?.pipe(process.stderr);
  return (await child).stdout;
}

/** The app layer's tree: /app/app.sh from fixtures/demo and /app/node_modules at `version`. */
async function writeAppTree(plan: DemoAppPlan, version: 1 | 2): Promise<string> {
  const tree = join(out, `app-v${version}`);
  await cp(join(repo, `fixtures/demo/app-v${version}`), join(tree, 'app'), { recursive: true });
  await writeDemoDependencies(plan, repo, join(tree, 'app'), version);
  return tree;
}

async function buildSpec(version: 1 | 2, appTree: string): Promise<string> {
  const spec = {
    layers: [{ directory: join(out, 'rootfs'), comment: 'busybox base' }, { directory: appTree, comment: `app v${version}` }],
    entrypoint: ['/bin/sh', '/app/app.sh'],
    env: version === 2 ? { GREETING: 'hi from v2' } : {},
    workdir: '/',
  };
  const file = join(out, `build-v${version}.json`);
  await writeFile(file, JSON.stringify(spec, null, 2));
  return file;
}

/** What the demo reads of `prtiql release --json` (schemas/release.schema.json). */
interface PublishedSizes {
  images: ReleasedImageSizes[];
}

interface ReleasedImageSizes {
  layers: { diffID: string; sizeBytes: number }[];
  deltas: { targetLayer: string; sizeBytes: number }[];
}

function showSavings(image: ReleasedImageSizes): void {
  for (const delta of image.deltas) {
    const full = image.layers.find((layer) => layer.diffID === delta.targetLayer)?.sizeBytes ?? 0;
    process.stdout.write(
      `Devices on v1 download the changed app layer as a ${delta.sizeBytes.toLocaleString('en')}-byte delta instead of its ` +
        `${full.toLocaleString('en')}-byte gzip layer: ${(full / delta.sizeBytes).toFixed(1)}x smaller.\n`,
    );
  }
}

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const store = join(out, 'store');
const device = join(out, 'device');
const images = join(out, 'images');

step('Release signing key and device trust root');
await sh('prtiql', ['keys', 'generate', shown(join(out, 'keys'))]);

step('What the device needs to run the container');
const lacking = ensureDebianPackages({ 'busybox-static': 'the shell and tools of the base layer', runc: 'the container runtime' }, 'The demo');
const isRoot = process.getuid?.() === 0;
if (!isRoot) process.stdout.write('runc needs root: run the demo as root to see the container start.\n');
const canRun = isRoot && lacking.length === 0 && existsSync(BUSYBOX_BINARY);
if (lacking.length === 0) process.stdout.write('busybox-static and runc are installed.\n');

step('Build v1 and v2 (base layer: busybox; app layer: /app with its node_modules)');
await mkdir(join(out, 'rootfs'));
if (existsSync(BUSYBOX_BINARY)) await createBusyboxRootfs(join(out, 'rootfs'));
const plan = await planDemoApp(repo);
process.stdout.write(
  `The app ships ${plan.paths.length} npm packages (this repository's production dependencies); ` +
    `v1 has ${plan.olderCopies.size} of them one update older: ${[...plan.olderCopies.values()].map((older) => `${older.name}@${older.version}`).join(', ')}\n`,
);
for (const version of [1, 2] as const) {
  const spec = await buildSpec(version, await writeAppTree(plan, version));
  await sh('prtiql', ['build', '--file', shown(spec), '--output', `oci:${shown(images)}:v${version}`]);
}

step('Serve the artifact store over HTTP');
await mkdir(store, { recursive: true });
const server = await serveDirectory(store);
process.stdout.write(`serving ${shown(store)} at ${server.url}\n`);

try {
  const update = ['update', '--source', server.url, '--channel', 'demo', '--store', shown(device), '--trust', shown(join(out, 'keys/root.json'))];
  for (const version of [1, 2] as const) {
    step(`Release v${version} and update the device`);
    // v2 carries a delta from v1, the channel's newest release: deltas are on by default
    const release = ['release', '--image', `oci:${shown(images)}:v${version}`, '--channel', 'demo', '--release-version', String(version), '--key', shown(join(out, 'keys/release-key.pem')), '--store', `file://${shown(store)}`];
    const published = JSON.parse(await sh('prtiql', [...release, '--json'])) as PublishedSizes;
    if (version === 2) showSavings(published.images[0]);
    await sh('applier', update);
    process.stdout.write(await sh('applier', ['status', '--store', shown(device), '--json']));
  }
} finally {
  await server.close();
}

step('Run the installed version');
const runArgs = ['run', '--store', shown(device), '--health-seconds', '0'];
if (canRun) {
  process.stdout.write(await sh('applier', runArgs));
} else {
  process.stdout.write(`The container did not start (see above for what is missing). Then, as root, run:\n  node dist/applier.js ${runArgs.join(' ')}\n`);
}
process.stdout.write(`\nDemo finished. Everything it wrote is in ${shown(out)}/\n`);
