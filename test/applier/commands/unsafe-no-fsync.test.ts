import { join } from 'node:path';
import t from 'tap';
import { DeviceStore } from '../../../applier/device-store/device-store.js';
import { UNSAFE_NO_FSYNC, UNSAFE_NO_FSYNC_ACK, UNSAFE_NO_FSYNC_ACK_VALUE } from '../../../applier/commands/unsafe-no-fsync.js';
import { bareApplierCommand, ensureApplierBundle } from '../../helpers/applier-bundle.js';
import { runProcess } from '../../helpers/run.js';
import { APPLIER_EXIT_CODES } from '../../../shared/errors.js';

t.test('the test-only switch that disables fsync cannot be turned on by half', async (t) => {
  await ensureApplierBundle();
  const store = join(t.testdir(), 'store');
  await DeviceStore.create(store);
  const status = (env: NodeJS.ProcessEnv) => runProcess(...bareApplierCommand(['status', '--store', store]), { env: { ...process.env, ...env } });

  for (const env of [
    { [UNSAFE_NO_FSYNC]: '1' },
    { [UNSAFE_NO_FSYNC_ACK]: UNSAFE_NO_FSYNC_ACK_VALUE },
    { [UNSAFE_NO_FSYNC]: 'yes', [UNSAFE_NO_FSYNC_ACK]: UNSAFE_NO_FSYNC_ACK_VALUE },
    { [UNSAFE_NO_FSYNC]: '1', [UNSAFE_NO_FSYNC_ACK]: 'yes' },
  ]) {
    const result = await status(env);
    t.equal(result.code, APPLIER_EXIT_CODES.E_USAGE, `refused: ${JSON.stringify(env)}`);
    t.match(result.stderr, /applier: E_USAGE: PRTIQL_UNSAFE_NO_FSYNC is a test-only switch/);
  }

  const normal = await status({});
  t.equal(normal.code, 0);
  t.notMatch(normal.stderr, /durability\.disabled/, 'nothing said when the switch is off');

  const unsafe = await status({ [UNSAFE_NO_FSYNC]: '1', [UNSAFE_NO_FSYNC_ACK]: UNSAFE_NO_FSYNC_ACK_VALUE });
  t.equal(unsafe.code, 0, 'both variables together turn it on');
  t.match(unsafe.stderr, /"level":"warn","event":"durability\.disabled"/, 'and every run says so');
});
