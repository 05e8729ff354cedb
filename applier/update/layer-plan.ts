import type { Digest } from '../../shared/digest.js';
import type { BlobRef, ReleaseDelta, ReleaseImage, ReleaseLayer } from '../../shared/release.js';
import type { DeviceStore } from '../device-store/device-store.js';

/** What an update does for one layer of the image: nothing (it is here), or fetch it by a delta or in full. */
export interface LayerPlan {
  layer: ReleaseLayer;
  present: boolean;
  /** The delta to try first; the full layer is the fallback. */
  delta?: ReleaseDelta;
}

/**
 * The smallest delta that rebuilds `layer` from the image this device runs, if every layer it
 * reads is here. A delta from any other base is never used.
 */
async function usableDelta(store: DeviceStore, image: ReleaseImage, installed: Digest | undefined, layer: ReleaseLayer): Promise<ReleaseDelta | undefined> {
  if (!installed) return undefined;
  const candidates = image.deltas.filter((delta) => delta.base === installed && delta.target === layer.diffID).sort((a, b) => a.blob.size - b.blob.size);
  for (const delta of candidates) {
    const present = await Promise.all(delta.basisLayers.map((basis) => store.hasLayer(basis)));
    if (present.every(Boolean)) return delta;
  }
  return undefined;
}

/** One plan per distinct layer of `image`, lowest first, for a device that runs `installed`. */
export async function planLayers(store: DeviceStore, image: ReleaseImage, installed: Digest | undefined): Promise<LayerPlan[]> {
  const seen = new Set<Digest>();
  const plans: LayerPlan[] = [];
  for (const layer of image.layers) {
    if (seen.has(layer.diffID)) continue;
    seen.add(layer.diffID);
    const present = await store.hasLayer(layer.diffID);
    plans.push({ layer, present, delta: present ? undefined : await usableDelta(store, image, installed, layer) });
  }
  return plans;
}

/** The blob an update fetches first for a missing layer: its delta, else the layer itself. */
export function plannedBlob(plan: LayerPlan): BlobRef {
  return plan.delta?.blob ?? plan.layer.blob;
}

/** Every blob fetching `plans` may download: each missing layer's delta and, as its fallback, its full blob. */
export function blobsToFetch(plans: readonly LayerPlan[]): Set<Digest> {
  return new Set(plans.filter((plan) => !plan.present).flatMap((plan) => [plan.layer.blob.digest, ...(plan.delta ? [plan.delta.blob.digest] : [])]));
}
