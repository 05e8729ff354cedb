import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import t from 'tap';
import { bareApplierCommand, ensureApplierBundle } from '../../helpers/applier-bundle.js';
import { runProcess } from '../../helpers/run.js';
import { newSigner, publishTestRelease, trustRootJson } from '../../helpers/signed-artifact-store.js';

const STORE = '<store>';

t.test('a command with a bad argument or input leaves the store as it was: not created, or not changed', async (t) => {
  await ensureApplierBundle();
  const dir = t.testdir();
  const artifacts = join(dir, 'artifacts');
  const signer = newSigner();
  await publishTestRelease({ storeDir: artifacts, channel: 'stable', version: 1, layers: [[{ path: 'hello.txt', type: 'file', mode: 0o644, content: Buffer.from('hello\n') }]], signers: [signer] });
  const root = join(dir, 'root.json');
  await writeFile(root, trustRootJson([signer]));
  await writeFile(join(dir, 'not-a-root.json'), '{"signed":{}}');
  await writeFile(join(dir, 'bad-device.json'), '{"memory":"1G"}');
  const update = (...args: string[]) => ['update', '--source', artifacts, '--channel', 'stable', '--store', STORE, '--trust', root, ...args];

  const cases: [args: string[], code: number, stderr: RegExp][] = [
    [update('--bogus'), 2, /E_USAGE: update: Unknown option '--bogus'/],
    [update('--deadline', '0'), 2, /--deadline must be a whole number/],
    [update('--platform', 'linux'), 2, /E_USAGE: update: --platform/],
    [update('--config', join(dir, 'missing.json')), 4, /E_NOT_FOUND: device config .*missing\.json does not exist/],
    [update('--platform', 'linux/amd64', '--config', join(dir, 'bad-device.json')), 3, /E_BAD_INPUT: device config .*unknown key "memory"/],
    [update('--auth-file', join(dir, 'missing-auth')), 2, /E_USAGE: .*missing-auth/],
    [update('--log-level', 'loud'), 2, /--log-level is error, warn, info, debug, not "loud"/],
    [['update', '--source', 'file://updates.example.com/store', '--channel', 'stable', '--store', STORE, '--trust', root], 2, /E_USAGE: update: --source .* is not a local directory/],
    [['update', '--source', 'file:artifacts', '--channel', 'stable', '--store', STORE, '--trust', root], 2, /E_USAGE: .*file:\/\/\/absolute\/dir, file:\/\/\.\/relative\/dir or a plain path/],
    [['update', '--source', 'ftp://example.com/store', '--channel', 'stable', '--store', STORE, '--trust', root], 2, /E_USAGE: --source must be a file:\/\/, http/],
    [['update', '--source', join(dir, 'nowhere'), '--channel', 'stable', '--store', STORE, '--trust', root], 4, /E_NOT_FOUND: update: --source .*nowhere is not a directory/],
    [['update', '--source', artifacts, '--channel', 'stable', '--store', STORE], 2, /E_USAGE: update: .* has no pinned trust root yet: pass --trust/],
    [['update', '--source', artifacts, '--channel', 'stable', '--store', STORE, '--trust', join(dir, 'missing-root.json')], 4, /E_NOT_FOUND: cannot read trust root/],
    [['update', '--source', artifacts, '--channel', 'stable', '--store', STORE, '--trust', join(dir, 'not-a-root.json')], 3, /trust root/],
    [['update', '--source', artifacts, '--channel', '../stable', '--store', STORE, '--trust', root], 2, /channel/],
    [['status', '--store', STORE, '--bogus'], 2, /E_USAGE: status: Unknown option/],
    [['status', '--store', STORE], 4, /E_NO_STORE/],
    [['gc', '--store', STORE, '--json=yes'], 2, /E_USAGE: gc: /],
    [['rollback', '--store', STORE, 'now'], 2, /E_USAGE: rollback: unexpected argument "now"/],
    [['run', '--store', STORE, '--network', 'bridge'], 2, /E_USAGE: run: --network is none, host, not "bridge"/],
    [['run', '--store', STORE, '--name', '../escape'], 2, /E_USAGE: run: --name/],
    [['run', '--store', STORE, '--health-seconds', 'soon'], 2, /E_USAGE: run: --health-seconds is a number of seconds/],
    [['stop', '--store', STORE, '--timeout=-1'], 2, /E_USAGE: stop: --timeout/],
    [['logs', '--store', STORE, '--follow', '--name', ''], 2, /E_USAGE: logs: --name is empty/],
  ];
  let index = 0;
  for (const [args, code, stderr] of cases) {
    index += 1;
    const missing = join(dir, `missing-${index}`);
    const empty = join(dir, `empty-${index}`);
    await mkdir(empty, { mode: 0o755 });
    for (const store of [missing, empty]) {
      const result = await runProcess(...bareApplierCommand(args.map((arg) => (arg === STORE ? store : arg))));
      const label = `${args.join(' ')} (${basename(store)})`;
      t.equal(result.code, code, `${label}: exit ${code}`);
      t.match(result.stderr, stderr, label);
    }
    await t.rejects(stat(missing), { code: 'ENOENT' }, `${args[0]}: a missing store is not created`);
    t.same(await readdir(empty), [], `${args[0]}: an empty store directory stays empty`);
    t.equal((await stat(empty)).mode & 0o777, 0o755, `${args[0]}: and keeps its mode`);
  }
});

t.test('a file source may be relative to the working directory: file://./dir, file://../dir or a plain path', async (t) => {
  await ensureApplierBundle();
  const dir = t.testdir();
  const signer = newSigner();
  await publishTestRelease({ storeDir: join(dir, 'artifacts'), channel: 'stable', version: 1, layers: [[{ path: 'hello.txt', type: 'file', mode: 0o644, content: Buffer.from('hello\n') }]], signers: [signer] });
  await writeFile(join(dir, 'root.json'), trustRootJson([signer]));
  await mkdir(join(dir, 'elsewhere'));

  for (const [index, [cwd, source]] of [
    [dir, 'file://./artifacts'],
    [dir, 'artifacts'],
    [dir, './artifacts/'],
    [join(dir, 'elsewhere'), 'file://../artifacts'],
    [join(dir, 'elsewhere'), '../artifacts'],
  ].entries()) {
    const store = join(dir, `store-${index}`);
    const result = await runProcess(...bareApplierCommand(['update', '--source', source, '--channel', 'stable', '--store', store, '--trust', join(dir, 'root.json')]), { cwd });
    t.equal(result.code, 0, `${source} from ${basename(cwd)}: ${result.stderr}`);
    t.match(result.stdout, /channel stable updated to version 1/, source);
  }
});
