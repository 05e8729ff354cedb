import { collectStoreGarbage } from '../device-store/gc.js';
import { createLogger } from '../log.js';
import { parseOptions, requireOption, type Subcommand } from './subcommand.js';

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
