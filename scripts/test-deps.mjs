#!/usr/bin/env node
// Makes sure this machine can run every test: installs the Debian packages the tests drive
// when running as root, otherwise names them and fails; then names the privileges and kernel
// features some tests need. Those tests skip without them, unless PRTIQL_REQUIRE_ALL_FEATURES=1
// (as in .ci/run), which makes this script fail, as the tests would.
import { existsSync } from 'node:fs';
import { ensureDebianPackages } from './lib/debian-packages.mjs';

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

if (ensureDebianPackages(PACKAGES, 'The test suite').length > 0) process.exit(1);

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
