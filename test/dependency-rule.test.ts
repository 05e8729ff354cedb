import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import t from 'tap';

const root = join(import.meta.dirname, '..');
const FORBIDDEN = [/^@oclif\//, /^@aws-sdk\//, /^undici$/, /^bsdiff-node$/, /^p-limit$/, /^seek-bzip$/];
const SHARED_ALLOWED_PACKAGES = [/^node:/, /^tar-stream$/];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:^|\s)(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g)].map((m) => m[1]);
  const dynamic = [...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]);
  return [...specifiers, ...dynamic];
}

function violations(dir: string, isAllowed: (specifier: string, file: string) => boolean): string[] {
  return sourceFiles(join(root, dir)).flatMap((file) =>
    importsOf(file)
      .filter((specifier) => !isAllowed(specifier, file))
      .map((specifier) => `${relative(root, file)} imports ${specifier}`),
  );
}

const reachesCli = (specifier: string, file: string) =>
  specifier.startsWith('.') && relative(root, join(file, '..', specifier)).startsWith('cli/');

t.test('applier/ imports neither cli/ nor the build-side libraries', async (t) => {
  const found = violations('applier', (s, file) => !reachesCli(s, file) && !FORBIDDEN.some((p) => p.test(s)));
  t.same(found, []);
});

t.test('shared/ imports only node built-ins, tar-stream and itself', async (t) => {
  const found = violations('shared', (s, file) => {
    if (s.startsWith('.')) return relative(root, join(file, '..', s)).startsWith('shared/');
    return SHARED_ALLOWED_PACKAGES.some((p) => p.test(s));
  });
  t.same(found, []);
});

t.test('the import scanner sees a forbidden import', async (t) => {
  t.same(importsOf(join(root, 'cli/src/base-command.ts')).filter((s) => s.startsWith('@oclif/')), ['@oclif/core']);
});
