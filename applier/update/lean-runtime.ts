import { setFlagsFromString } from 'node:v8';

/**
 * An update's JavaScript is glue between native code (zlib, sha256, file and socket I/O).
 * V8's optimizing compiler gains it little time and costs about 9 MiB of resident memory:
 * its code pages and its compilation zones on worker threads. `update` turns it off before
 * any code gets hot; the baseline tiers stay (docs/RELIABILITY.md has the measurements).
 * Streaming allocates many short-lived objects (promises, chunk views): V8 would grow its
 * young generation to 32 MiB for them; kept at its initial size, it costs a few more
 * scavenges, each of them cheap because almost nothing survives.
 */
export function useLeanRuntime(): void {
  setFlagsFromString('--no-opt');
  setFlagsFromString('--semi-space-growth-factor=1');
}
