import { join, posix } from 'node:path';
import picomatch from 'picomatch';
import { readFileCapped } from '../../../../shared/capped-read.js';

/** Glob options close to Go's filepath.Match that docker uses: no braces or extglobs, dotfiles match `*`. */
export const DOCKER_GLOB: picomatch.PicomatchOptions = { dot: true, nobrace: true, noextglob: true };

/** True when a context path (relative, '/'-separated) may be copied. */
export type ContextFilter = (path: string) => boolean;

interface Rule {
  exception: boolean;
  matches: (path: string) => boolean;
}

function parentsAndSelf(path: string): string[] {
  const parts = path.split('/');
  return parts.map((_, index) => parts.slice(0, index + 1).join('/'));
}

/**
 * The rules of a .dockerignore text, as docker applies them: one pattern a line, `#` starts
 * a comment line, `!` re-includes, `**` spans directories, a leading `/` is dropped, and a
 * pattern that matches a directory excludes everything below it. The last matching line wins.
 */
export function dockerignoreFilter(text: string): ContextFilter {
  const rules: Rule[] = [];
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const exception = trimmed.startsWith('!');
    const pattern = posix.normalize((exception ? trimmed.slice(1) : trimmed).trim()).replace(/^\/+|\/+$/g, '');
    if (pattern === '' || pattern === '.') continue;
    rules.push({ exception, matches: picomatch(pattern, DOCKER_GLOB) });
  }
  return (path) => {
    let excluded = false;
    const candidates = parentsAndSelf(path);
    for (const rule of rules) {
      if (candidates.some((candidate) => rule.matches(candidate))) excluded = !rule.exception;
    }
    return !excluded;
  };
}

/** Largest .dockerignore read, as large as a Dockerfile may be. */
const MAX_DOCKERIGNORE_BYTES = 1024 * 1024;

/** The filter of `<context>/.dockerignore`; everything is included when there is none. */
export async function readDockerignore(context: string): Promise<ContextFilter> {
  try {
    const path = join(context, '.dockerignore');
    return dockerignoreFilter((await readFileCapped(path, MAX_DOCKERIGNORE_BYTES, path)).toString('utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return () => true;
    throw error;
  }
}
