// Debian packages a script drives: installed when missing and running as root, else named.
import { execFileSync, spawnSync } from 'node:child_process';

/**
 * `packages` maps each Debian package to what it provides. Returns the packages still
 * missing afterwards (none when it could install them), after telling the user on stderr
 * what they are for and how to install them.
 */
export function ensureDebianPackages(packages, purpose) {
  const missing = Object.keys(packages).filter(
    (pkg) => spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).stdout !== 'install ok installed',
  );
  if (missing.length === 0) return [];
  const named = missing.map((pkg) => `${pkg} (${packages[pkg]})`).join(', ');
  const canInstall = process.getuid?.() === 0 && spawnSync('apt-get', ['--version']).status === 0;
  if (!canInstall) {
    console.error(`${purpose} needs these Debian packages: ${named}`);
    console.error(`Install them with: sudo apt-get install -y ${missing.join(' ')}`);
    return missing;
  }
  console.error(`Installing Debian packages ${purpose.toLowerCase()} needs: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  return [];
}
