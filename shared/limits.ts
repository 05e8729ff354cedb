/**
 * How large a document either program reads whole may be. The publisher never writes a
 * document a device would refuse, so both read their limits here.
 */

/** A JSON document read whole: an OCI manifest or index, a signed release, a store document. */
export const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;
