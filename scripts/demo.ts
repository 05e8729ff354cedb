// End-to-end demo on embedded defaults: build v1 and v2 of a small app, release both to a
// local directory store, serve it over HTTP on 127.0.0.1, update a local device directory
// to v1 then v2, and run the installed version with runc (or print the command).
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { createBusyboxRootfs, BUSYBOX_BINARY } from '../fixtures/busybox-rootfs.js';
import { serveDirectory } from './lib/static-server.js';

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

async function buildSpec(version: 1 | 2): Promise<string> {
  const spec = {
    layers: [{ directory: join(out, 'rootfs'), comment: 'busybox base' }, { directory: join(repo, `fixtures/demo/app-v${version}`), comment: `app v${version}` }],
    entrypoint: ['/bin/sh', '/app.sh'],
    env: version === 2 ? { GREETING: 'hi from v2' } : {},
    workdir: '/',
  };
  const file = join(out, `build-v${version}.json`);
  await writeFile(file, JSON.stringify(spec, null, 2));
  return file;
}

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const store = join(out, 'store');
const device = join(out, 'device');
const images = join(out, 'images');

step('Release signing key and device trust root');
await sh('prtiql', ['keys', 'generate', shown(join(out, 'keys'))]);

step('Build v1 and v2 (base layer: busybox; app layer: fixtures/demo)');
await mkdir(join(out, 'rootfs'));
const haveBusybox = existsSync(BUSYBOX_BINARY);
if (haveBusybox) await createBusyboxRootfs(join(out, 'rootfs'));
else process.stdout.write(`(${BUSYBOX_BINARY} not found: the base layer has no shell, so the image will not run; apt-get install busybox-static)\n`);
for (const version of [1, 2] as const) {
  await sh('prtiql', ['build', '--file', shown(await buildSpec(version)), '--output', `oci:${shown(images)}:v${version}`]);
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
    await sh('prtiql', release);
    await sh('applier', update);
    process.stdout.write(await sh('applier', ['status', '--store', shown(device), '--json']));
  }
} finally {
  await server.close();
}

step('Run the installed version');
const runArgs = ['run', '--store', shown(device), '--health-seconds', '0'];
const runcAvailable = spawnSync('runc', ['--version']).status === 0 && process.getuid?.() === 0 && haveBusybox;
if (runcAvailable) {
  process.stdout.write(await sh('applier', runArgs));
} else {
  process.stdout.write(`runc needs root and Debian's runc package; as root, run:\n  node dist/applier.js ${runArgs.join(' ')}\n`);
}
process.stdout.write(`\nDemo finished. Everything it wrote is in ${shown(out)}/\n`);
