import { readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { lstatIfExists } from '../../../../filesystem/layer-view.js';
import { runToolOrFail } from '../../../../filesystem/tool.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from '../../../../shared/tar/whiteout.js';

const OPAQUE = 'trusted.overlay.opaque';
/** Features that make the upper directory an incomplete diff (contents left in a lower dir). */
const INCOMPLETE_DIFF = ['trusted.overlay.redirect', 'trusted.overlay.metacopy'];

/** getfattr escapes control characters as \ooo and the backslash as \\. */
function unescapeName(text: string): string {
  return text.replace(/\\([0-7]{3}|\\)/g, (_, code: string) => (code === '\\' ? '\\' : String.fromCharCode(Number.parseInt(code, 8))));
}

/** The directories of an overlay upper dir marked opaque, relative to it ('' for the root). */
async function opaqueDirectories(upper: string): Promise<Set<string>> {
  const names = [OPAQUE, ...INCOMPLETE_DIFF].map((name) => name.replaceAll('.', '\\.')).join('|');
  const output = await runToolOrFail('getfattr', ['--recursive', '--physical', '--no-dereference', '--absolute-names', '--dump', `--match=^(${names})$`, upper]);
  const opaque = new Set<string>();
  let file = '';
  for (const line of output.split('\n')) {
    if (line.startsWith('# file: ')) {
      file = unescapeName(line.slice('# file: '.length));
      continue;
    }
    const relative = file === upper ? '' : file.slice(upper.length + 1);
    if (line.startsWith(`${OPAQUE}=`) && line.slice(OPAQUE.length + 1) === '"y"') opaque.add(relative);
    if (INCOMPLETE_DIFF.some((name) => line.startsWith(`${name}=`))) {
      throw new PrtiqlError('E_RUNTIME', `overlayfs wrote ${line.split('=')[0]} for /${relative}: turn off redirect_dir and metacopy of the overlay module`);
    }
  }
  return opaque;
}

/**
 * Removes what runc created only to mount over (`/proc`, `/etc/resolv.conf`, ...): a mount
 * point absent from the lower dir that is still an empty file or directory, and the parent
 * directories copied up only to hold it.
 */
async function removeMountStubs(upper: string, lower: string, stubs: readonly string[], opaque: ReadonlySet<string>): Promise<void> {
  for (const stub of stubs) {
    if (await lstatIfExists(join(lower, stub))) continue;
    const stats = await lstatIfExists(join(upper, stub));
    if (!stats) continue;
    if (stats.isFile() && stats.size === 0) await rm(join(upper, stub));
    else if (stats.isDirectory() && (await readdir(join(upper, stub))).length === 0) await rmdir(join(upper, stub));
    else continue;
    for (let parent = dirname(stub); parent !== '.' && !opaque.has(parent); parent = dirname(parent)) {
      const copied = await lstatIfExists(join(upper, parent));
      const original = await lstatIfExists(join(lower, parent));
      if (!copied?.isDirectory() || (await readdir(join(upper, parent))).length > 0) break;
      if (original && (original.mode !== copied.mode || original.uid !== copied.uid || original.gid !== copied.gid)) break;
      await rmdir(join(upper, parent));
    }
  }
}

/**
 * Turns the upper directory of an overlay mount into an OCI layer directory in place:
 * whiteouts (0:0 character devices) become empty `.wh.<name>` files and opaque directories
 * get a `.wh..wh..opq` file, so that the tree lists exactly the layer's entries.
 * `stubs` are the mount points of the container (relative paths), see removeMountStubs.
 */
export async function upperToLayerDirectory(upper: string, lower: string, stubs: readonly string[]): Promise<void> {
  const opaque = await opaqueDirectories(upper);
  await removeMountStubs(upper, lower, stubs, opaque);
  const visit = async (relative: string): Promise<void> => {
    const directory = join(upper, relative);
    if (opaque.has(relative) && relative !== '') await writeFile(join(directory, OPAQUE_WHITEOUT), '', { mode: 0o644 });
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        await visit(path);
      } else if (entry.isCharacterDevice() && (await lstatIfExists(join(upper, path)))?.rdev === 0) {
        await rm(join(upper, path));
        await writeFile(join(directory, WHITEOUT_PREFIX + entry.name), '', { mode: 0o644 });
      }
    }
  };
  await visit('');
}
