#!/usr/bin/env node
// Makes sure this machine can run every test: installs the Debian packages the tests drive
// when running as root, otherwise names them and fails; then names the privileges and kernel
// features some tests need. Those tests skip without them, unless PRTIQL_REQUIRE_ALL_FEATURES=1
// (as in .ci/run), which makes this script fail, as the tests would.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Debian package: what the tests use from it. */
const PACKAGES = {
  runc: 'runc',
  skopeo: 'skopeo',
  umoci: 'umoci',
  'busybox-static': 'busybox',
  attr: 'setfattr',
  'docker-registry': 'docker-registry',
  'apache2-utils': 'htpasswd',
  openssl: 'openssl',
  time: '/usr/bin/time (peak RSS of the memory test)',
  systemd: 'systemd-analyze, systemd-notify (the unit file and readiness tests)',
  python3: 'python3 (a unix datagram socket standing in for systemd in the readiness test)',
  mount: 'losetup, mount (power-cut and disk-error tests)',
  e2fsprogs: 'mkfs.ext4, e2fsck (power-cut and disk-error tests)',
};

const required = process.env.PRTIQL_REQUIRE_ALL_FEATURES === '1';
const isRoot = process.getuid?.() === 0;

const missing = Object.keys(PACKAGES).filter(
  (pkg) => spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).stdout !== 'install ok installed',
);

if (missing.length > 0) {
  if (!isRoot) {
    console.error(`The tests need these Debian packages: ${missing.map((pkg) => `${pkg} (${PACKAGES[pkg]})`).join(', ')}`);
    console.error(`Install them with: sudo apt-get install -y ${missing.join(' ')}`);
    process.exit(1);
  }
  console.error(`Installing Debian packages the tests need: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
}

const lacking = [
  !isRoot && 'root (runc containers, mounts, chown of layer files, loop devices)',
  !existsSync('/dev/loop-control') && '/dev/loop-control (loop devices for the power-cut and disk-error tests; a container needs --privileged or the loop devices passed in)',
].filter(Boolean);

if (lacking.length > 0) {
  const what = `This machine lacks what some tests need: ${lacking.join('; ')}.`;
  if (required) {
    console.error(`${what} PRTIQL_REQUIRE_ALL_FEATURES=1 requires every test to run.`);
    process.exit(1);
  }
  console.error(`${what} Those tests will be skipped.`);
}
