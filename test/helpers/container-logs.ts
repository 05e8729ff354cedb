import { setTimeout as sleep } from 'node:timers/promises';
import { runApplier } from './applier-bundle.js';

/**
 * A detached container's log as `applier logs` prints it, once it satisfies `complete`: the
 * log writer is a separate process, so the last lines may land a moment after the container
 * has exited or the applier has returned. Gives up after 20 s and returns what it has, for
 * the assertion to show.
 */
export async function logsOnceComplete(store: { root: string; name: string }, complete: (text: string) => boolean): Promise<string> {
  let text = '';
  for (let attempt = 0; attempt < 100; attempt++) {
    text = (await runApplier(['logs', '--store', store.root, '--name', store.name])).stdout;
    if (complete(text)) return text;
    await sleep(200);
  }
  return text;
}
