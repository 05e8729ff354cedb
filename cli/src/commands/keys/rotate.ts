import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { rotateKeys, type RotatedKeys } from '../../lib/keys.js';
import { openStoreFromFlags, storeConnectionFlags, storeFlagProperties } from '../../artifact-store-flags.js';

export default class KeysRotate extends BaseCommand<RotatedKeys> {
  static override summary = 'Write the next trust root, signed by the current keys and the new ones.';

  static override description = `Reads the current trust root (version N) and writes root N+1 to OUT/root.json. Root N+1 trusts the --new-key keys (or, without --new-key, a key generated into OUT/release-key.pem and OUT/release-key.pub.pem) with --threshold (root N's threshold by default), keeps root N's timestamp keys unless --timestamp-key or --drop-timestamp says otherwise, and is signed by the --key keys of root N (at least root N's threshold of them) and by every new key: devices accept it only so (docs/SECURITY.md). Before anything is written it is checked with the devices' own rule.

With --store, root N+1 is also published as roots/<N+1>.json in the artifact store, where devices find it before their next release check; published roots are never replaced. Keys are files or env:<NAME> (read from an environment variable, for CI secrets). Existing files in OUT are kept unless --force (exit 3). stdout gets the path of root N+1.

Exit codes: 2 bad flags or fewer new keys than the threshold; 3 a key or root file is malformed, or OUT holds files; 4 a key or root file does not exist; 6 the --key keys are not a threshold of root N's keys; 7 the store already holds another root N+1.`;

  static override examples = [
    '<%= config.bin %> keys rotate --root keys/root.json --key keys/release-key.pem --out keys-v2 --store s3://releases/fleet',
    '<%= config.bin %> keys rotate --root root.json --key env:OLD_KEY --new-key a.pem --new-key b.pem --threshold 2 --out next --json',
    '<%= config.bin %> keys rotate --root root.json --key old.pem --new-key old.pem --timestamp-key timestamp.pub.pem --out next',
  ];

  static override flags = {
    root: Flags.string({ description: 'The current trust root (root.json, version N).', required: true }),
    key: Flags.string({ char: 'k', description: 'A private key of root N that signs root N+1 (repeatable; a file or env:<NAME>).', required: true, multiple: true }),
    'new-key': Flags.string({ description: 'A private key root N+1 trusts (repeatable); each signs it. None: a new key is generated into OUT.', multiple: true }),
    out: Flags.string({ description: 'Directory for root.json (N+1) and a generated key.', required: true }),
    threshold: Flags.integer({ description: "How many of root N+1's keys must sign a release. [default: root N's threshold]", min: 1 }),
    'timestamp-key': Flags.string({ description: 'A public (or private) key of the timestamp role of root N+1 (repeatable). [default: root N\'s timestamp keys]', multiple: true }),
    'timestamp-threshold': Flags.integer({ description: 'How many timestamp keys must sign a timestamp.', min: 1, default: 1 }),
    'drop-timestamp': Flags.boolean({ description: 'Root N+1 names no timestamp keys: devices stop requiring a timestamp.', default: false }),
    store: Flags.string({ ...storeFlagProperties('to'), description: 'Also publish root N+1 to this artifact store as roots/<N+1>.json.' }),
    ...storeConnectionFlags,
    force: Flags.boolean({ description: 'Replace existing files in OUT.', default: false }),
  };

  protected async execute(): Promise<RotatedKeys> {
    const { flags } = await this.parse(KeysRotate);
    const result = await rotateKeys({
      rootPath: flags.root,
      endorsingKeys: flags.key,
      newKeys: flags['new-key'] ?? [],
      out: flags.out,
      threshold: flags.threshold,
      timestampKeys: flags['timestamp-key'],
      timestampThreshold: flags['timestamp-threshold'],
      dropTimestamp: flags['drop-timestamp'],
      force: flags.force,
      ...(flags.store !== undefined && { store: await openStoreFromFlags(flags.store, flags) }),
    });
    this.say(`trust root version ${result.version}: ${result.trustRoot} (threshold ${result.threshold} of ${result.keyIds.length} key(s))`);
    if (result.privateKey) this.say(`new private key: ${result.privateKey} (keep it secret)`);
    if (result.published) this.say(`published: ${result.published}`);
    return result;
  }

  protected resultLine(result: RotatedKeys): string {
    return result.trustRoot;
  }
}
