import { parseOptions, requireOption, type Subcommand } from '../commands/subcommand.js';
import { acquireStoreLock } from './lock.js';
import { createLogger } from '../log.js';
import { STORE_LAYOUT, Store } from './device-store.js';

/**
 * Deletes what an update would collect (images neither `current`, `previous` nor a container
 * names, layers no kept image uses) and the leftovers of interrupted runs. Crash-safe: each
 * victim leaves the store in one durable rename before it is deleted (Store.collectGarbage).
 */
export async function collectStoreGarbage(root: string): Promise<{ images: string[]; layers: string[] }> {
  const store = await Store.open(root);
  const lock = await acquireStoreLock(store.path(STORE_LAYOUT.lock));
  try {
    await store.clearStaging();
    const removed = await store.collectGarbage();
    await store.clearStaging();
    return removed;
  } finally {
    await lock.release();
  }
}

export const gcCommand: Subcommand = {
  summary: 'gc --store <dir>: delete images and layers that neither current, previous nor a container uses',
  async run(args) {
    const values = parseOptions('gc', args, { store: { type: 'string' } });
    const removed = await collectStoreGarbage(requireOption('gc', values.store, 'store'));
    createLogger().info('store.garbage-collected', { images: removed.images.length, layers: removed.layers.length });
    process.stdout.write(`removed ${removed.images.length} image(s) and ${removed.layers.filter((name) => !name.endsWith('.meta')).length} layer(s)\n`);
    return 0;
  },
};
