/**
 * Passes `source` on while already pulling its next item: the producer (a download, a file
 * read, a hash) works while the consumer handles the current item. At most one item waits.
 * When the consumer stops early the source is closed once the item in flight has arrived.
 */
export async function* readAhead<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let next = iterator.next();
  let finished = false;
  try {
    for (;;) {
      const result = await next;
      if (result.done) {
        finished = true;
        return;
      }
      next = iterator.next();
      next.catch(() => undefined);
      yield result.value;
    }
  } finally {
    if (!finished) {
      const pending = await next.catch(() => ({ done: true }) as IteratorResult<T>);
      if (!pending.done) await iterator.return?.();
    }
  }
}
