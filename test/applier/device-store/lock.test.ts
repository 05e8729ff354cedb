import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { acquireStoreLock } from '../../../applier/device-store/lock.js';
import { REPO_ROOT } from '../../helpers/run.js';

t.test('one holder at a time; released on release()', async (t) => {
  const lockPath = join(t.testdir(), 'lock');
  const first = await acquireStoreLock(lockPath);
  await t.rejects(acquireStoreLock(lockPath), { code: 'E_BUSY' });
  await first.release();
  const second = await acquireStoreLock(lockPath);
  await second.release();
});

t.test('a holder killed with SIGKILL leaves no stale lock behind', async (t) => {
  const lockPath = join(t.testdir(), 'lock');
  const lockModule = pathToFileURL(join(REPO_ROOT, 'applier', 'device-store', 'lock.ts')).href;
  const holder = spawn(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', `await (await import(${JSON.stringify(lockModule)})).acquireStoreLock(${JSON.stringify(lockPath)}); console.log('held'); setInterval(() => {}, 1000);`],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => holder.kill('SIGKILL'));
  await once(holder.stdout, 'data');
  await t.rejects(acquireStoreLock(lockPath), { code: 'E_BUSY' }, 'another process holds it');
  holder.kill('SIGKILL');
  await once(holder, 'exit');
  const lock = await acquireStoreLock(lockPath);
  await lock.release();
  t.pass('taken over at once after the holder died');
});
