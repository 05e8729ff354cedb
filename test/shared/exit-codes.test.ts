import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { APPLIER_EXIT_CODES, ERROR_EXIT_CODES, type ErrorCode } from '../../shared/errors.js';
import { REPO_ROOT } from '../helpers/run.js';

/** What a container exits with by itself: its own statuses, its shell's 126 and 127, 128 + a standard signal. */
const CONTAINER_STATUSES = new Set([...Array.from({ length: 125 }, (_, status) => status), 126, 127, ...Array.from({ length: 31 }, (_, n) => 129 + n)]);
/** What systemd names as its own when a unit's process exits with it (EXIT_CHDIR 200 ... EXIT_CREDENTIALS 243). */
const isSystemdStatus = (status: number) => status >= 200 && status <= 243;

t.test("the applier's exit statuses are none a container exits with by itself, and none systemd names", async (t) => {
  for (const [code, status] of Object.entries(APPLIER_EXIT_CODES)) {
    t.notOk(CONTAINER_STATUSES.has(status), `${code}: ${status} is not a container's own status`);
    t.notOk(isSystemdStatus(status), `${code}: ${status} is not one of systemd's`);
  }
  t.equal(APPLIER_EXIT_CODES.E_RUNTIME, 125, "docker's: the runner failed");
});

t.test('docs/EXIT-CODES.md lists every code with the statuses of both programs', async (t) => {
  const text = await readFile(join(REPO_ROOT, 'docs/EXIT-CODES.md'), 'utf8');
  const documented = new Map<string, [number, number]>();
  for (const [, cli, applier, codes] of text.matchAll(/^\| (\d+) \| (\d+) \| ([^|]*) \|/gm)) {
    for (const [, code] of codes.matchAll(/`(E_[A-Z_]+)`/g)) documented.set(code, [Number(cli), Number(applier)]);
  }
  const expected = new Map(Object.keys(ERROR_EXIT_CODES).map((code) => [code, [ERROR_EXIT_CODES[code as ErrorCode], APPLIER_EXIT_CODES[code as ErrorCode]]]));
  t.same(Object.fromEntries(documented), Object.fromEntries(expected));
});
