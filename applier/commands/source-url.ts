import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PrtiqlError } from '../../shared/errors.js';

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
/** `file://./dir` and `file://../dir`: URL parsers read `.` as a host name; people mean a relative path. */
const RELATIVE_FILE_URL = /^file:\/\/(\.\.?(?:\/.*)?)$/i;
const LOCAL_FILE_URL = /^file:\/\/(localhost)?\//i;

/**
 * The --source argument as an absolute URL. Without a scheme it is a directory path,
 * relative to `cwd` unless absolute. `file://./dir` and `file://../dir` are relative to `cwd`
 * too (percent-escapes decoded, as in any URL). Other file URLs must be absolute and local
 * (`file:///dir`, `file://localhost/dir`); `file:dir` and `file://host/dir` are E_USAGE.
 */
export function sourceUrl(argument: string, cwd = process.cwd()): string {
  if (!SCHEME.test(argument)) return pathToFileURL(resolve(cwd, argument)).href;
  const relative = RELATIVE_FILE_URL.exec(argument);
  if (relative) {
    let path: string;
    try {
      path = decodeURIComponent(relative[1]!);
    } catch {
      throw new PrtiqlError('E_USAGE', `update: --source ${argument} has a malformed %-escape`);
    }
    return pathToFileURL(resolve(cwd, path)).href;
  }
  if (/^file:/i.test(argument) && !LOCAL_FILE_URL.test(argument)) {
    throw new PrtiqlError(
      'E_USAGE',
      `update: --source ${argument} is not a local directory: write file:///absolute/dir, file://./relative/dir or a plain path`,
    );
  }
  return argument;
}
