import { Flags } from '@oclif/core';
import { openStoreFromFlags, storeConnectionFlags, storeFlagProperties } from '../artifact-store-flags.js';
import { BaseCommand } from '../base-command.js';
import { publishImageDeltas } from '../lib/delta/image-deltas.js';
import { openImage } from '../lib/image/open-image.js';
import { maxMemoryFlag } from '../memory-flag.js';
import { registryFlags, registryOptionsFrom, sourcePlatformFlag, sourcePlatformFrom } from '../registry-flags.js';
import { deltaOutput, type DeltaOutput } from '../results/delta-result.js';

export default class Delta extends BaseCommand<DeltaOutput> {
  static override summary = 'Compute per-layer binary deltas from one image to another into a store.';

  static override description = `For every layer of --to that --from lacks, computes a delta that rebuilds the layer's tar exactly from files of --from's layers (docs/delta-format.md), uploads it to --store, and records the pair there (deltas/<base>/<target>.json; stdout gets its location). \`prtiql release --base\` then publishes the recorded deltas without recomputing them, so each (base, target) pair can be its own CI job writing into the same store.

A delta that is not smaller than the layer's gzip blob is dropped: devices fetch that layer whole. Layers --from already has cost nothing.

Exit codes: 2 bad flags; 3 an image reference or the store URL is malformed; 4 an image does not exist; 5 a layer does not match its digest; 8 a registry or store could not be reached; 11 credentials refused.`;

  static override examples = [
    '<%= config.bin %> delta --from oci:./images/app:1.4 --to oci:./images/app:1.5 --store ./releases',
    '<%= config.bin %> delta --from docker://registry.local/app:1.4 --to docker://registry.local/app:1.5 --store s3://fleet-releases/app --region eu-west-1 --json',
  ];

  static override flags = {
    from: Flags.string({ description: 'Base image, the one devices run: oci:, docker-archive: or docker:// reference.', required: true }),
    to: Flags.string({ description: 'Target image: oci:, docker-archive: or docker:// reference.', required: true }),
    store: Flags.string({ ...storeFlagProperties('out'), required: true }),
    force: Flags.boolean({ description: 'Recompute even when the store already records deltas for this pair.' }),
    'max-memory': maxMemoryFlag,
    platform: sourcePlatformFlag,
    ...registryFlags,
    ...storeConnectionFlags,
  };

  protected async execute(): Promise<DeltaOutput> {
    const { flags } = await this.parse(Delta);
    const options = { platform: sourcePlatformFrom(flags), registry: registryOptionsFrom(flags) };
    const store = await openStoreFromFlags(flags.store, flags);
    const base = await openImage(flags.from, options);
    const target = await openImage(flags.to, options);
    const result = await publishImageDeltas({ base, target, store, force: flags.force, maxMemory: flags['max-memory'], progress: (label, total) => this.progress(label, total) });
    const location = store.documentLocation({ kind: 'delta-record', base: result.base, target: result.target });
    const output = deltaOutput(result, base, target, location);
    const bytes = output.deltas.reduce((sum, delta) => sum + delta.sizeBytes, 0);
    this.say(
      `${output.reused ? 'reused' : 'computed'} ${output.deltas.length} delta(s), ${bytes} bytes in all; ${output.sharedLayers.length} layer(s) shared, ${output.fullLayers.length} sent whole`,
    );
    this.say(`devices on ${output.baseDigest} download ${output.downloadBytes} of ${output.fullBytes} bytes`);
    return output;
  }

  protected resultLine(output: DeltaOutput): string {
    return output.location;
  }
}
