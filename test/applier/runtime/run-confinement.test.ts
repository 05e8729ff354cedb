import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import t, { type Test } from 'tap';
import type { ImageConfig } from '../../../shared/oci.js';
import { DEFAULT_CAPABILITIES, LINUX_CAPABILITIES } from '../../../filesystem/confinement.js';
import { parseDeviceConfig } from '../../../applier/runtime/device-config.js';
import { runtimeSpec } from '../../../filesystem/runtime-spec.js';
import { seccompProfile } from '../../../filesystem/seccomp-profile.js';
import { runApplier } from '../../helpers/applier-bundle.js';
import { containerStore } from '../../helpers/container-store.js';
import type { LayerContent } from '../../helpers/device-store.js';
import { missingCommand, RUNC_NEEDS_ROOT, skipUnlessAvailable } from '../../helpers/required-features.js';
import { runTool } from '../../helpers/run.js';

const PERL = '/usr/bin/perl';
const skip = skipUnlessAvailable(RUNC_NEEDS_ROOT || (await missingCommand('ldd', [PERL], `probes containers with the host's ${PERL} (Debian perl-base)`)));

const FILE = '/etc/prtiql/device.json';
const image: ImageConfig = { architecture: 'amd64', os: 'linux', config: { Cmd: ['true'] }, rootfs: { type: 'layers', diff_ids: [] } };
const specWith = (device: unknown) => runtimeSpec(image, { containerId: 'box', network: 'none', accounts: {}, host: parseDeviceConfig(JSON.stringify(device), FILE) });
const allowed = (profile: ReturnType<typeof seccompProfile>) => profile.syscalls.filter((rule) => rule.action === 'SCMP_ACT_ALLOW' && !rule.args).flatMap((rule) => rule.names);

t.test('every container is confined unless the device config relaxes each part by name', async (t) => {
  const confined = specWith({});
  t.same(confined.process.capabilities.effective, DEFAULT_CAPABILITIES);
  t.equal(confined.process.noNewPrivileges, true);
  t.ok(confined.linux.maskedPaths.includes('/proc/kcore') && confined.linux.readonlyPaths.includes('/proc/sysrq-trigger'));
  t.match(confined.linux.seccomp, { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1 });

  const relaxed = specWith({ confinement: { seccomp: false, noNewPrivileges: false, maskedPaths: false, addCapabilities: ['CAP_NET_ADMIN'] } });
  t.notOk('seccomp' in relaxed.linux, 'no filter');
  t.equal(relaxed.process.noNewPrivileges, false);
  t.same([relaxed.linux.maskedPaths, relaxed.linux.readonlyPaths], [[], []]);
  t.same(relaxed.process.capabilities.bounding, [...DEFAULT_CAPABILITIES, 'CAP_NET_ADMIN']);
  t.same(specWith({ confinement: { seccomp: true, noNewPrivileges: true, maskedPaths: true } }), confined, 'true keeps the default');

  const refused = (confinement: unknown, message: RegExp) => t.throws(() => specWith({ confinement }), { code: 'E_BAD_INPUT', message }, message.source);
  refused({ seccomp: 'unconfined' }, /confinement.seccomp must be true or false/);
  refused({ noNewPrivileges: 0 }, /confinement.noNewPrivileges must be true or false/);
  refused({ apparmor: false }, /unknown key "apparmor" in "confinement"/);
  refused({ addCapabilities: 'CAP_SYS_ADMIN' }, /addCapabilities must be a list/);
  refused({ addCapabilities: ['SYS_ADMIN'] }, /"SYS_ADMIN" is not a Linux capability/);
  refused([], /"confinement" must be a JSON object/);
});

t.test("the seccomp profile: docker's allowlist for the device's ABIs, calls of held capabilities only", async (t) => {
  const x64 = seccompProfile(DEFAULT_CAPABILITIES, 'x86_64', '6.1.0');
  t.same(x64.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  t.same(seccompProfile(DEFAULT_CAPABILITIES, 'aarch64', '6.1.0').architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  t.same(seccompProfile(DEFAULT_CAPABILITIES, 'armv7l', '6.1.0').architectures, ['SCMP_ARCH_ARM']);
  t.ok(allowed(seccompProfile(DEFAULT_CAPABILITIES, 'armv7l', '6.1.0')).includes('set_tls') && !allowed(x64).includes('set_tls'));
  for (const name of ['read', 'execve', 'chroot', 'ptrace', 'arch_prctl']) t.ok(allowed(x64).includes(name), `${name} allowed`);
  for (const name of ['unshare', 'mount', 'keyctl', 'add_key', 'bpf', 'setns', 'kexec_load', 'init_module', 'reboot', 'clock_settime', 'userfaultfd']) {
    t.notOk(allowed(x64).includes(name), `${name} not allowed`);
  }
  const ruleFor = (name: string) => x64.syscalls.find((rule) => rule.names.includes(name));
  t.same(ruleFor('clone')?.args, [{ index: 0, op: 'SCMP_CMP_MASKED_EQ', value: 0x7e020000, valueTwo: 0 }], 'clone only without namespace flags');
  t.match(ruleFor('clone3'), { action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
  t.notOk(allowed(seccompProfile(DEFAULT_CAPABILITIES, 'x86_64', '4.4.0')).includes('ptrace'), 'no ptrace where it could skip the filter');
  const admin = seccompProfile([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'], 'x86_64', '6.1.0');
  t.ok(['mount', 'unshare', 'setns', 'clone', 'clone3'].every((name) => allowed(admin).includes(name)), 'CAP_SYS_ADMIN brings its calls');
  t.notOk(admin.syscalls.some((rule) => rule.action === 'SCMP_ACT_ERRNO'), 'and no clone restriction');
});

/** The syscall numbers the probes call, per ABI. */
const SYSCALLS: Partial<Record<NodeJS.Architecture, Record<'keyctl' | 'unshare' | 'mount' | 'personality' | 'clone', number>>> = {
  x64: { keyctl: 250, unshare: 272, mount: 165, personality: 135, clone: 56 },
  arm64: { keyctl: 219, unshare: 97, mount: 40, personality: 92, clone: 220 },
  arm: { keyctl: 311, unshare: 337, mount: 21, personality: 136, clone: 120 },
};
const CLONE_NEWUSER = 0x10000000;
const SIGCHLD = 17;
const ADDR_NO_RANDOMIZE = 0x0040000;

/**
 * The host's perl (setuid root, so it shows whether exec can gain privileges) with its
 * libraries, and a probe script that prints `name=value` lines: each syscall's errno (or
 * `ok`), what /proc/self/status says, and what the masked and read-only paths look like.
 */
const probeLayer: LayerContent = async (dir) => {
  const numbers = SYSCALLS[process.arch];
  if (!numbers) throw new Error(`no syscall numbers for ${process.arch}`);
  const libraries = [...(await runTool('ldd', [PERL])).matchAll(/(\/\S+) \(0x/g)].map((match) => match[1]);
  for (const file of [PERL, ...libraries]) {
    await mkdir(join(dir, dirname(file)), { recursive: true });
    await copyFile(file, join(dir, file));
  }
  await chmod(join(dir, PERL), 0o4755);
  const call = (name: string, args: string) => `perl -e 'my $r = syscall(${args}); exit 0 if $r == 0 && "${name}" eq "clone-newuser"; print "${name}=", ($r == -1 ? $! + 0 : "ok"), "\\n"'`;
  const probe = [
    "grep -E '^(Seccomp|NoNewPrivs|CapEff|CapBnd):' /proc/self/status | busybox sed 's/:[[:space:]]*/=/'",
    call('keyctl', `${numbers.keyctl}, 1, 0`),
    call('mount', `${numbers.mount}, my $source = "none", my $target = "/tmp", my $type = "tmpfs", 0, 0`),
    call('personality-query', `${numbers.personality}, 0xffffffff`),
    call('personality-norandom', `${numbers.personality}, ${ADDR_NO_RANDOMIZE}`),
    call('clone-newuser', `${numbers.clone}, ${CLONE_NEWUSER | SIGCHLD}, 0, 0, 0, 0`),
    call('unshare-newuser', `${numbers.unshare}, ${CLONE_NEWUSER}`),
    'busybox unshare -U true 2>/dev/null && echo unshare-command=ran || echo unshare-command=failed',
    // uid 1000 executes the setuid-root perl: its effective uid says whether privileges were gained
    `perl -e '($<, $>) = (1000, 1000); exec "${PERL}", "-e", q(print "setuid-euid=$>\\n")'`,
    'echo "proc-keys=$(stat -c %F /proc/keys)"',
    'echo "proc-timer-list=$(stat -c %F /proc/timer_list)"',
    'echo "sys-firmware=$(stat -f -c %T /sys/firmware)"',
    '(echo x > /proc/sys/kernel/hostname) 2>&1 | grep -q "Read-only" && echo proc-sys=read-only || echo proc-sys=writable',
  ];
  await writeFile(join(dir, 'probe.sh'), `${probe.join('\n')}\n`, { mode: 0o755 });
};

/** Runs the probe in a container under `device` and returns what it printed, as a map. */
async function probe(t: Test, device: unknown): Promise<Record<string, string>> {
  const store = await containerStore(t, [{ Cmd: ['/app/hello.sh', 'sh', '/probe.sh'] }], [probeLayer]);
  const config = join(t.testdir(), 'device.json');
  await writeFile(config, JSON.stringify(device));
  const result = await runApplier(['run', '--store', store.root, '--name', store.name, '--health-seconds', '0', '--config', config]);
  t.equal(result.code, 0, `the workload runs to its end: ${result.stderr}`);
  t.match(result.stdout, /^hello from prtiql-test-\S+ as 0:0 in \//, 'the demo app ran');
  return Object.fromEntries(result.stdout.split('\n').filter((line) => /^[a-zA-Z-]+=/.test(line)).map((line) => line.split(/=(.*)/s).slice(0, 2)));
}

const EPERM = '1';
const mask = (capabilities: string[]) => capabilities.reduce((bits, name) => bits | (1n << BigInt(LINUX_CAPABILITIES.indexOf(name))), 0n).toString(16).padStart(16, '0');

t.test('in runc, a container runs confined: seccomp, capabilities, no new privileges, masked paths', { skip }, async (t) => {
  const seen = await probe(t, {});
  t.equal(seen.Seccomp, '2', 'a seccomp filter is on');
  t.equal(seen.NoNewPrivs, '1');
  t.equal(seen.CapEff, '00000000a80425fb', "docker's default set, CAP_SYS_ADMIN (bit 21) not among them");
  t.equal(seen.CapBnd, seen.CapEff);
  t.equal(seen.keyctl, EPERM, 'the kernel keyring is out of reach');
  t.equal(seen.mount, EPERM);
  t.equal(seen['clone-newuser'], EPERM, 'no user namespace through clone');
  t.equal(seen['unshare-newuser'], EPERM, 'nor through unshare');
  t.equal(seen['unshare-command'], 'failed', '`unshare -U` fails');
  t.equal(seen['personality-query'], 'ok', 'allowed arguments pass the filter');
  t.equal(seen['personality-norandom'], EPERM, 'others do not');
  t.equal(seen['setuid-euid'], '1000', 'a setuid-root program gains nothing');
  t.equal(seen['proc-keys'], 'character special file', 'masked: /dev/null in its place');
  t.equal(seen['proc-timer-list'], 'character special file');
  t.equal(seen['sys-firmware'], 'tmpfs', 'masked: an empty file system in its place');
  t.equal(seen['proc-sys'], 'read-only');
});

t.test('in runc, what the device config relaxes is relaxed, and only that', { skip }, async (t) => {
  const open = await probe(t, { confinement: { seccomp: false, noNewPrivileges: false, maskedPaths: false } });
  t.equal(open.Seccomp, '0', 'no filter');
  t.equal(open.NoNewPrivs, '0');
  t.equal(open.CapEff, '00000000a80425fb', 'capabilities stay as they were');
  t.equal(open.keyctl, 'ok');
  t.equal(open['unshare-newuser'], 'ok', 'what the filter stopped now happens');
  t.equal(open['unshare-command'], 'ran');
  t.equal(open['personality-norandom'], 'ok');
  t.equal(open['setuid-euid'], '0', 'setuid works again');
  t.equal(open['proc-keys'], 'regular empty file');
  t.equal(open['sys-firmware'], 'sysfs');
  t.equal(open['proc-sys'], 'writable');

  const admin = await probe(t, { confinement: { addCapabilities: ['CAP_SYS_ADMIN'] } });
  t.equal(admin.Seccomp, '2', 'the filter stays on');
  t.equal(admin.CapEff, mask([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']));
  t.equal(admin.mount, 'ok', "an added capability's calls come with it");
  t.equal(admin.keyctl, EPERM, 'the rest of the filter holds');
});
