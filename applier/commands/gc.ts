import { collectStoreGarbage } from '../device-store/gc.js';
import { createLogger } from '../log.js';
import { JSON_OPTION, STORE_OPTION } from './common-options.js';
import { defineCommand } from './subcommand.js';

export const gcCommand = defineCommand({
  name: 'gc',
  summary: 'delete images and layers that neither current, previous nor a container uses',
  description: 'Every update collects garbage itself; this is for a store whose updates were interrupted. It takes the store lock (E_BUSY while an update runs).',
  options: { store: STORE_OPTION, json: JSON_OPTION },
  examples: ['applier gc --store /var/lib/prtiql'],
  async run(values) {
    const removed = await collectStoreGarbage(values.store);
    const counts = { images: removed.images.length, layers: removed.layers.filter((name) => !name.endsWith('.meta')).length };
    createLogger().info('store.garbage-collected', { images: removed.images.length, layers: removed.layers.length });
    process.stdout.write(values.json ? `${JSON.stringify(counts, null, 2)}\n` : `removed ${counts.images} image(s) and ${counts.layers} layer(s)\n`);
    return 0;
  },
});
