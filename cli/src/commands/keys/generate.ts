import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { generateReleaseKey, type GeneratedReleaseKey } from '../../lib/keys.js';

export default class KeysGenerate extends BaseCommand<GeneratedReleaseKey> {
  static override summary = 'Create a release signing key and the trust root devices pin.';

  static override description = `Writes three files into DIRECTORY (created if missing; an existing DIRECTORY must be empty or hold only these files): release-key.pem, the Ed25519 private key (PKCS#8 PEM, mode 0600) that signs releases; release-key.pub.pem, its public key; and root.json, a trust root (version 1, threshold 1) signed by the key, to install on devices.

Existing files are never replaced unless --force is given (exit 3 otherwise). Under --json the result is {keyId, privateKey, publicKey, trustRoot} (schemas/keys-generate.schema.json), the last three being file paths; in human mode stdout gets the key id.`;

  static override examples = [
    '<%= config.bin %> keys generate ./keys',
    '<%= config.bin %> keys generate ./keys --force --json',
  ];

  static override args = {
    directory: Args.string({ description: 'Directory to write the key files into.', required: true }),
  };

  static override flags = {
    force: Flags.boolean({ description: 'Replace existing key and trust root files.', default: false }),
  };

  protected async execute(): Promise<GeneratedReleaseKey> {
    const { args, flags } = await this.parse(KeysGenerate);
    const result = await generateReleaseKey(args.directory, { force: flags.force });
    this.say(`private key: ${result.privateKey} (keep it secret)`);
    this.say(`trust root:  ${result.trustRoot} (install on devices)`);
    return result;
  }

  protected resultLine(result: GeneratedReleaseKey): string {
    return result.keyId;
  }
}
