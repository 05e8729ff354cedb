import { chmod, chown, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Debian's busybox-static: one statically linked binary, so no libraries are needed. */
export const BUSYBOX_BINARY = '/bin/busybox';

export const BUSYBOX_APPLETS = [
  'cat', 'cp', 'echo', 'env', 'false', 'grep', 'head', 'hostname', 'id', 'kill', 'ls', 'mkdir',
  'pwd', 'rm', 'sh', 'sha256sum', 'sleep', 'stat', 'test', 'touch', 'true', 'wc',
];

export const BUSYBOX_PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'app:x:1000:1000:app:/home/app:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');

export const BUSYBOX_GROUP = ['root:x:0:', 'staff:x:50:app', 'app:x:1000:', 'nogroup:x:65534:', ''].join('\n');

/**
 * Writes a minimal Linux root filesystem into `dir` (which must exist): busybox with its
 * applets as symlinks in /bin, /etc/passwd and /etc/group (root, app 1000, nobody), and the
 * usual empty mount points. The binary is copied from the host at test time.
 */
export async function createBusyboxRootfs(dir: string): Promise<void> {
  for (const sub of ['bin', 'etc', 'dev', 'proc', 'sys', 'root', 'home/app', 'tmp']) {
    await mkdir(join(dir, sub), { recursive: true, mode: 0o755 });
  }
  await chmod(join(dir, 'tmp'), 0o1777);
  await chmod(join(dir, 'root'), 0o700);
  await chown(join(dir, 'home/app'), 1000, 1000);
  await copyFile(BUSYBOX_BINARY, join(dir, 'bin/busybox'));
  await chmod(join(dir, 'bin/busybox'), 0o755);
  for (const applet of BUSYBOX_APPLETS) await symlink('busybox', join(dir, 'bin', applet));
  await writeFile(join(dir, 'etc/passwd'), BUSYBOX_PASSWD, { mode: 0o644 });
  await writeFile(join(dir, 'etc/group'), BUSYBOX_GROUP, { mode: 0o644 });
}
