import { acquireStoreLock } from './lock.js';
import { STORE_LAYOUT, DeviceStore } from './device-store.js';

/**
 * Deletes what an update would collect (images neither `current`, `previous` nor a container
 * names, layers no kept image uses) and the leftovers of interrupted runs. Crash-safe: each
 * victim leaves the store in one durable rename before it is deleted (DeviceStore.collectGarbage).
 */
export async function collectStoreGarbage(root: string): Promise<{ images: string[]; layers: string[] }> {
  const store = await DeviceStore.open(root);
  const lock = await acquireStoreLock(store.path(STORE_LAYOUT.lock));
  try {
    await store.clearStaging();
    const removed = await store.collectGarbage();
    await store.clearStaging();
    return removed;
  } finally {
    await lock.release();
  }
}
