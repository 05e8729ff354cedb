#!/usr/bin/env node
// Makes sure the Debian packages the test suite drives are installed: installs the missing
// ones when running as root, otherwise names them and fails.
import { execFileSync, spawnSync } from 'node:child_process';

const PACKAGES = {
  runc: 'runc',
  skopeo: 'skopeo',
  umoci: 'umoci',
  'busybox-static': 'busybox',
  attr: 'setfattr',
  'docker-registry': 'docker-registry',
  'apache2-utils': 'htpasswd',
  openssl: 'openssl',
};

const missing = Object.entries(PACKAGES)
  .filter(([pkg]) => spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).stdout !== 'install ok installed')
  .map(([pkg]) => pkg);

if (missing.length === 0) process.exit(0);

if (process.getuid?.() !== 0) {
  console.error(`The tests need these Debian packages: ${missing.join(' ')}\nInstall them with: sudo apt-get install -y ${missing.join(' ')}`);
  process.exit(1);
}

console.error(`Installing Debian packages the tests need: ${missing.join(' ')}`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
