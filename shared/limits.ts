/**
 * How large a document either program reads whole may be. The publisher and the device read
 * the same limits here, so nothing is published that a device would refuse as too large.
 */

/** A JSON document read whole: an OCI manifest or index, a signed release, a store document. */
export const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;
/** An image config, read whole: some carry long histories. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
/** A root.json: a device refuses to download or parse more. */
export const MAX_ROOT_BYTES = 256 * 1024;
/** A timestamp.json: a device refuses to download or parse more. */
export const MAX_TIMESTAMP_BYTES = 64 * 1024;
/** A token server's answer (distribution token auth). */
export const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;
/** An image's /etc/passwd or /etc/group, read to resolve user and group names. */
export const MAX_ACCOUNTS_FILE_BYTES = 1024 * 1024;
