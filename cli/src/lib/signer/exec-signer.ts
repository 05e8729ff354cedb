import { spawn } from 'node:child_process';
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { keyIdOf } from '../../../../shared/dsse.js';
import { PrtiqlError } from '../../../../shared/errors.js';
import type { Signer } from './signer.js';

/** `--key exec:<command>`: the signature comes from a command (docs/SECURITY.md, "External signers"). */
export const EXEC_SIGNER_PREFIX = 'exec:';

/** What the command is asked to do, in PRTIQL_SIGNER_OPERATION. */
type SignerOperation = 'public-key' | 'sign';

/** Long enough for a KMS round trip or a PIN-less HSM, short enough that a hung signer does not hang CI. */
export const SIGNER_TIMEOUT_MS = 60_000;
/** A PEM public key or a signature, in any of the accepted encodings, is far below this. */
const MAX_SIGNER_OUTPUT_BYTES = 64 * 1024;
const ED25519_SIGNATURE_BYTES = 64;

function signerError(what: string, problem: string): PrtiqlError {
  return new PrtiqlError('E_SIGNER', `${what}: ${problem}`);
}

/** The last line the signer wrote on stderr, for the message: usually the reason it failed. */
function lastLine(text: string): string {
  const line = text.trim().split('\n').at(-1)?.trim() ?? '';
  return line ? `: ${line.slice(0, 300)}` : '';
}

/**
 * Runs the signer command through /bin/sh with the operation in PRTIQL_SIGNER_OPERATION (and the
 * payload type for signing requests), `input` on stdin; returns its stdout, once it exited 0.
 */
function runSigner(command: string, operation: SignerOperation, input: Buffer, payloadType: string | undefined, what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, PRTIQL_SIGNER_OPERATION: operation, ...(payloadType && { PRTIQL_SIGNER_PAYLOAD_TYPE: payloadType }) };
    // Its own process group, so that a timeout ends the whole pipeline the command may be.
    const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = '';
    let failure: PrtiqlError | undefined;
    const stop = (error: PrtiqlError) => {
      failure ??= error;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => stop(signerError(what, `no answer to "${operation}" within ${SIGNER_TIMEOUT_MS / 1000} s`)), SIGNER_TIMEOUT_MS);
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > MAX_SIGNER_OUTPUT_BYTES) stop(signerError(what, `wrote more than ${MAX_SIGNER_OUTPUT_BYTES} bytes for "${operation}"`));
      else stdout.push(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4096)));
    // A signer that does not read its input (the public-key request) closes stdin early: not an error.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(signerError(what, `cannot run /bin/sh (${error.message})`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure) reject(failure);
      else if (code !== 0) reject(signerError(what, `"${operation}" failed with ${code === null ? `signal ${signal}` : `exit status ${code}`}${lastLine(stderr)}`));
      else resolve(Buffer.concat(stdout));
    });
  });
}

function parsePublicKey(output: Buffer, what: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: output.toString('utf8'), format: 'pem' });
  } catch {
    throw signerError(what, 'its "public-key" answer is not a PEM public key');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw signerError(what, `its public key is a ${key.asymmetricKeyType} key; release keys are Ed25519`);
  return key;
}

/** A signature as the raw 64 bytes, or as base64 text of them (what `aws kms sign --output text` prints). */
function parseSignature(output: Buffer, what: string): Buffer {
  if (output.length === ED25519_SIGNATURE_BYTES) return output;
  const text = output.toString('latin1').trim();
  const decoded = /^[A-Za-z0-9+/]+={0,2}$/.test(text) ? Buffer.from(text, 'base64') : undefined;
  if (decoded?.length === ED25519_SIGNATURE_BYTES) return decoded;
  throw signerError(what, `its "sign" answer (${output.length} bytes) is not an Ed25519 signature: 64 bytes, raw or in base64`);
}

/**
 * An external signer: `command` prints the Ed25519 public key when asked (once, now), and signs
 * the bytes on its stdin when asked. Every signature is checked against that public key
 * before it is used, so a signer answering with another key's signature or with garbage
 * fails here (E_SIGNER), before anything is published.
 */
export async function execSigner(command: string, what: string): Promise<Signer> {
  const name = `${what} ${EXEC_SIGNER_PREFIX}${command}`;
  if (!command.trim()) throw new PrtiqlError('E_USAGE', `${what} "${EXEC_SIGNER_PREFIX}" names no command`);
  const publicKey = parsePublicKey(await runSigner(command, 'public-key', Buffer.alloc(0), undefined, name), name);
  const keyId = keyIdOf(publicKey);
  return {
    publicKey,
    keyId,
    async sign(message, payloadType) {
      const signature = parseSignature(await runSigner(command, 'sign', message, payloadType, name), name);
      if (!verify(null, message, publicKey, signature)) throw signerError(name, `its signature does not verify against its public key (key id ${keyId})`);
      return signature;
    },
  };
}
