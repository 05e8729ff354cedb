import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Every file under `dir` whose name matches `names` (TypeScript sources by default), recursively. */
export function sourceFiles(dir: string, names = /\.ts$/): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path, names);
    return names.test(name) ? [path] : [];
  });
}
