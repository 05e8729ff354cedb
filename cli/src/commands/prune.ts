import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { openStoreFromFlags, STORE_FORMS, storeConnectionFlags } from '../artifact-store-flags.js';
import { pruneChannel, type PruneResult } from '../lib/prune/prune-channel.js';
import { registryFlags } from '../registry-flags.js';

export default class Prune extends BaseCommand<PruneResult> {
  static override summary = "Remove a channel's older releases and every blob, delta and record nothing kept needs.";

  static override description = `Keeps the channel's --keep newest releases (its current release always) and removes the older ones from channels/<channel>/history.json; then removes the delta records from or to an image only the removed releases had, and every blob that no kept release of any channel and no kept delta record names: layers, configs, manifests, indexes, deltas. Nothing a kept release needs goes, nor a delta from a kept release to another (docs/artifact-store.md, "Pruning").

Stdout gets the digests of the blobs removed (or, with --dry-run, that would be), one per line; --json the whole result (schemas/prune.schema.json). Documents are rewritten or removed before the blobs they name, so an interrupted prune leaves a consistent store: run it again to finish. Do not run it while a release or delta job writes to the store: the blobs such a job uploaded are named by no document yet.

With docker://<host>/<repo>, released images are deleted by digest (with every tag naming them; the registry must allow deletes) and blobs unlinked from the repository; the registry's garbage collector frees their storage. The registry store cannot list blobs, so only what the removed releases and records named goes.

Exit codes: 2 bad flags; 3 a document in the store is malformed; 4 the channel has no release; 8 the store cannot be reached; 11 the store refused the credentials or does not allow deletes.`;

  static override examples = [
    '<%= config.bin %> prune ./releases --channel stable --keep 3 --dry-run',
    '<%= config.bin %> prune s3://my-bucket/prtiql --channel stable --keep 5 --region eu-central-1 --json',
    '<%= config.bin %> prune docker://registry.local/app-releases --channel stable --keep 3',
  ];

  static override args = {
    store: Args.string({ description: `Artifact store: ${STORE_FORMS}.`, required: true }),
  };

  static override flags = {
    channel: Flags.string({ char: 'c', description: 'Channel name.', required: true }),
    keep: Flags.integer({ description: "How many of the channel's newest releases to keep (at least 1).", required: true, min: 1 }),
    'dry-run': Flags.boolean({ description: 'List what would be removed; change nothing.', default: false }),
    ...storeConnectionFlags,
    ...registryFlags,
  };

  protected async execute(): Promise<PruneResult> {
    const { args, flags } = await this.parse(Prune);
    const store = await openStoreFromFlags(args.store, flags);
    const result = await pruneChannel({ store, channel: flags.channel, keep: flags.keep, dryRun: flags['dry-run'] });
    const verb = result.dryRun ? 'would remove' : 'removed';
    this.say(`channel ${result.channel}: keeping versions ${result.keptVersions.join(', ')}; ${verb} ${result.removedVersions.length ? `versions ${result.removedVersions.join(', ')}` : 'no version'}`);
    for (const location of result.removedDocuments) this.say(`${verb} ${location}`);
    for (const digest of result.removedBlobs) this.say(`${verb} blob ${digest}`);
    this.say(`${result.removedDocuments.length} delta records and ${result.removedBlobs.length} blobs ${result.dryRun ? 'would be removed' : 'removed'}`);
    return result;
  }

  /** Human mode's stdout: the blobs removed (or that would be), one per line. */
  protected resultLine(result: PruneResult): string {
    return result.removedBlobs.join('\n');
  }
}
