import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { keyIdOf, openEnvelope, preAuthEncoding } from '../../../shared/dsse.js';
import { MediaType } from '../../../shared/oci.js';
import { encodeRelease, parseRelease } from '../../../shared/release.js';
import { signRelease } from '../../../cli/src/lib/release/sign-release.js';
import { REPO_ROOT } from '../../helpers/run.js';

/** The worked example in docs/release-format.md must be what the code produces. */
t.test('the worked example matches the signing code', async (t) => {
  const doc = await readFile(`${REPO_ROOT}/docs/release-format.md`, 'utf8');
  const pem = /-----BEGIN PRIVATE KEY-----\n.*\n-----END PRIVATE KEY-----\n/.exec(doc)![0];
  const key = createPrivateKey(pem);
  const publicKey = createPublicKey(key);
  const keyid = keyIdOf(publicKey);
  t.match(doc, `public key as DER SPKI (base64) is \`${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}\``);
  t.match(doc, `keyid is \`sha256(DER SPKI)\` =\n\`${keyid}\``);

  const payloadJson = /```json\n(\{\n {2}"type": "prtiql-release"[\s\S]*?\n\})\n```/.exec(doc)![1];
  const release = parseRelease(JSON.parse(payloadJson));
  const payload = encodeRelease(release);
  t.equal(payload.toString(), `${payloadJson}\n`, 'the payload is printed exactly as encodeRelease writes it');
  t.match(doc, `The payload (${payload.length} bytes)`);
  t.match(doc, `The PAE starts\n\`DSSEv1 38 ${MediaType.release} ${payload.length} {\``);
  t.equal(preAuthEncoding(MediaType.release, payload).subarray(0, 60).toString(), `DSSEv1 38 ${MediaType.release} ${payload.length} {\n  "t`);

  const envelope = JSON.parse((await signRelease(release, key)).toString());
  t.match(doc, `"payload": "${envelope.payload.slice(0, 40)}...${envelope.payload.slice(-4)}"`);
  t.match(doc, `"keyid": "${envelope.signatures[0].keyid}"`);
  t.match(doc, `"sig": "${envelope.signatures[0].sig}"`);
  t.ok(openEnvelope(envelope, MediaType.release, new Map([[keyid, publicKey]]), 1, 'example').equals(payload));
});
