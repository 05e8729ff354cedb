/**
 * The result of a file system operation, or null where the path does not exist (ENOENT).
 * Any other error (permissions, a file where a directory should be, I/O) is thrown: a check
 * must never take a path it could not read for one that is not there.
 */
export async function unlessMissing<T>(operation: Promise<T>): Promise<T | null> {
  try {
    return await operation;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
