/**
 * Every failure the product reports on purpose is a PrtiqlError with a stable code.
 * The code decides the process exit status (see docs/EXIT-CODES.md), so init systems
 * and CI can tell a permanent failure from a transient one. This table is `prtiql`'s;
 * the applier's is APPLIER_EXIT_CODES.
 */
export const ERROR_EXIT_CODES = {
  E_INTERNAL: 1,
  E_USAGE: 2,
  E_BAD_INPUT: 3,
  E_NOT_AN_IMAGE: 3,
  E_BAD_REFERENCE: 3,
  E_UNSAFE_ENTRY: 3,
  E_DELTA_MALFORMED: 3,
  E_NOT_FOUND: 4,
  E_UNKNOWN_CHANNEL: 4,
  E_NO_STORE: 4,
  E_DIGEST_MISMATCH: 5,
  E_SIZE_MISMATCH: 5,
  E_TOO_LARGE: 5,
  E_BAD_SIGNATURE: 6,
  E_UNTRUSTED_KEY: 6,
  E_THRESHOLD: 6,
  E_EXPIRED: 6,
  E_DUPLICATE_SIGNATURE: 6,
  E_DEVICE_CLASS: 6,
  E_MIX_AND_MATCH: 6,
  E_ROLLBACK: 7,
  E_VERSION_EXISTS: 7,
  E_NETWORK: 8,
  E_BUSY: 9,
  E_DISK: 10,
  E_UNAUTHORIZED: 11,
  E_RELEASE_FAILED: 12,
  E_SIGNER: 13,
  E_RUNTIME: 125,
} as const;

export type ErrorCode = keyof typeof ERROR_EXIT_CODES;

/**
 * `applier run`'s status when runc could not execute the container's command, as `docker run`
 * reports it (runc itself exits 1, as a container may): 126 it cannot be executed, 127 it does
 * not exist. Any other failure of runc is E_RUNTIME's 125.
 */
export const CONTAINER_COMMAND_EXIT_CODES = { notExecutable: 126, notFound: 127 } as const;

/**
 * The applier's exit status for each code. `applier run` exits with the container's own
 * status, so the applier's failures keep out of what a container exits with by itself (0 to
 * 124, 126 and 127 from its shell, 129 to 159 when a signal killed it) and out of what systemd
 * names as its own (200 to 243): `E_RUNTIME` is docker's 125 ("the runner failed"), the rest
 * are 160 plus `prtiql`'s status.
 */
export const APPLIER_EXIT_CODES = {
  E_INTERNAL: 161,
  E_USAGE: 162,
  E_BAD_INPUT: 163,
  E_NOT_AN_IMAGE: 163,
  E_BAD_REFERENCE: 163,
  E_UNSAFE_ENTRY: 163,
  E_DELTA_MALFORMED: 163,
  E_NOT_FOUND: 164,
  E_UNKNOWN_CHANNEL: 164,
  E_NO_STORE: 164,
  E_DIGEST_MISMATCH: 165,
  E_SIZE_MISMATCH: 165,
  E_TOO_LARGE: 165,
  E_BAD_SIGNATURE: 166,
  E_UNTRUSTED_KEY: 166,
  E_THRESHOLD: 166,
  E_EXPIRED: 166,
  E_DUPLICATE_SIGNATURE: 166,
  E_DEVICE_CLASS: 166,
  E_MIX_AND_MATCH: 166,
  E_ROLLBACK: 167,
  E_VERSION_EXISTS: 167,
  E_NETWORK: 168,
  E_BUSY: 169,
  E_DISK: 170,
  E_UNAUTHORIZED: 171,
  E_RELEASE_FAILED: 172,
  E_SIGNER: 173,
  E_RUNTIME: 125,
} as const satisfies Record<ErrorCode, number>;

export class PrtiqlError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PrtiqlError';
    this.code = code;
  }

  /** `prtiql`'s exit status for this error; the applier's is APPLIER_EXIT_CODES[code]. */
  get exitCode(): number {
    return ERROR_EXIT_CODES[this.code];
  }
}

export function isPrtiqlError(error: unknown, code?: ErrorCode): error is PrtiqlError {
  return error instanceof PrtiqlError && (code === undefined || error.code === code);
}

/** File system failures that are the disk's or its permissions', not a bug: E_DISK. */
const DISK_ERRNO_CODES: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EACCES', 'EPERM', 'EMFILE', 'ENFILE', 'EMLINK', 'EFBIG']);

/** A thrown value as a PrtiqlError: typed errors keep their code, disk failures become E_DISK, anything else E_INTERNAL (a bug). */
export function asPrtiqlError(error: unknown): PrtiqlError {
  if (error instanceof PrtiqlError) return error;
  const code = (error as NodeJS.ErrnoException)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return new PrtiqlError(code && DISK_ERRNO_CODES.has(code) ? 'E_DISK' : 'E_INTERNAL', message, { cause: error });
}
