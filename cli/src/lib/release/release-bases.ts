import { configPlatform } from '../../../../shared/oci-json.js';
import { formatPlatform } from '../../../../shared/platform.js';
import type { Image } from '../image/image.js';
import type { ArtifactStore } from '../artifact-store/artifact-store.js';
import { openStoreImage } from '../artifact-store/store-image.js';
import type { HistoryEntry } from './channel-history.js';

function platformOf(image: Image): string {
  return formatPlatform(configPlatform(image.config));
}

/** The images of earlier releases, opened from the store they were published to. */
export async function openReleasedImages(store: ArtifactStore, entries: readonly HistoryEntry[]): Promise<Image[]> {
  const images: Image[] = [];
  for (const entry of entries) {
    for (const { manifest } of entry.images) images.push(await openStoreImage(store, manifest));
  }
  return images;
}

/**
 * The bases a target image gets deltas from: those of its platform (a device only ever moves
 * between images of its own platform), each image once, never the target itself.
 */
export function basesFor(target: Image, targetDigest: string, bases: readonly Image[]): Image[] {
  const seen = new Set<string>([targetDigest]);
  return bases.filter((base) => platformOf(base) === platformOf(target) && !seen.has(base.manifestDigest) && seen.add(base.manifestDigest));
}
