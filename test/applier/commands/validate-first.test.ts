import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import t from 'tap';
import { APPLIER_EXIT_CODES, type ErrorCode } from '../../../shared/errors.js';
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

  const cases: [args: string[], code: ErrorCode, stderr: RegExp][] = [
    [update('--bogus'), 'E_USAGE', /E_USAGE: update: Unknown option '--bogus'/],
    [update('--deadline', '0'), 'E_USAGE', /--deadline must be a whole number/],
    [update('--platform', 'linux'), 'E_USAGE', /E_USAGE: update: --platform/],
    [update('--config', join(dir, 'missing.json')), 'E_NOT_FOUND', /E_NOT_FOUND: device config .*missing\.json does not exist/],
    [update('--platform', 'linux/amd64', '--config', join(dir, 'bad-device.json')), 'E_BAD_INPUT', /E_BAD_INPUT: device config .*unknown key "memory"/],
    [update('--auth-file', join(dir, 'missing-auth')), 'E_USAGE', /E_USAGE: .*missing-auth/],
    [update('--log-level', 'loud'), 'E_USAGE', /--log-level is error, warn, info, debug, not "loud"/],
    [['update', '--source', 'file://updates.example.com/store', '--channel', 'stable', '--store', STORE, '--trust', root], 'E_USAGE', /E_USAGE: update: --source .* is not a local directory/],
    [['update', '--source', 'file:artifacts', '--channel', 'stable', '--store', STORE, '--trust', root], 'E_USAGE', /E_USAGE: .*file:\/\/\/absolute\/dir, file:\/\/\.\/relative\/dir or a plain path/],
    [['update', '--source', 'ftp://example.com/store', '--channel', 'stable', '--store', STORE, '--trust', root], 'E_USAGE', /E_USAGE: --source must be a file:\/\/, http/],
    [['update', '--source', join(dir, 'nowhere'), '--channel', 'stable', '--store', STORE, '--trust', root], 'E_NOT_FOUND', /E_NOT_FOUND: update: --source .*nowhere is not a directory/],
    [['update', '--source', artifacts, '--channel', 'stable', '--store', STORE], 'E_USAGE', /E_USAGE: update: .* has no pinned trust root yet: pass --trust/],
    [['update', '--source', artifacts, '--channel', 'stable', '--store', STORE, '--trust', join(dir, 'missing-root.json')], 'E_NOT_FOUND', /E_NOT_FOUND: cannot read trust root/],
    [['update', '--source', artifacts, '--channel', 'stable', '--store', STORE, '--trust', join(dir, 'not-a-root.json')], 'E_BAD_INPUT', /trust root/],
    [['update', '--source', artifacts, '--channel', '../stable', '--store', STORE, '--trust', root], 'E_USAGE', /channel/],
    [['status', '--store', STORE, '--bogus'], 'E_USAGE', /E_USAGE: status: Unknown option/],
    [['status', '--store', STORE], 'E_NO_STORE', /E_NO_STORE/],
    [['gc', '--store', STORE, '--json=yes'], 'E_USAGE', /E_USAGE: gc: /],
    [['rollback', '--store', STORE, 'now'], 'E_USAGE', /E_USAGE: rollback: unexpected argument "now"/],
    [['run', '--store', STORE, '--network', 'bridge'], 'E_USAGE', /E_USAGE: run: --network is none, host, not "bridge"/],
    [['run', '--store', STORE, '--name', '../escape'], 'E_USAGE', /E_USAGE: run: --name/],
    [['run', '--store', STORE, '--health-seconds', 'soon'], 'E_USAGE', /E_USAGE: run: --health-seconds is a number of seconds/],
    [['stop', '--store', STORE, '--timeout=-1'], 'E_USAGE', /E_USAGE: stop: --timeout/],
    [['logs', '--store', STORE, '--follow', '--name', ''], 'E_USAGE', /E_USAGE: logs: --name is empty/],
    [['health', 'forget', '2', '--store', STORE], 'E_USAGE', /E_USAGE: health: <action> is mark-good, mark-bad, clear, not "forget"/],
    [['health', 'clear', 'v2', '--store', STORE], 'E_USAGE', /E_USAGE: health: <release> is a version \(a positive integer\) or a manifest digest/],
    [['health', 'clear', '--store', STORE], 'E_USAGE', /E_USAGE: health: <release> is required/],
    [['health', 'clear', '2', '--store', STORE], 'E_NO_STORE', /E_NO_STORE/],
    [['rollback', '--mark-bad', '--store', STORE], 'E_NO_STORE', /E_NO_STORE/],
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
      t.equal(result.code, APPLIER_EXIT_CODES[code], `${label}: ${code}`);
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
