import { readFileSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import t from 'tap';
import { sourceFiles } from './helpers/source-files.js';

/**
 * The dependency rule of docs/ARCHITECTURE.md, checked on every import of every source file:
 * shared/ is formats and pure logic; filesystem/ is what both programs do to a disk; the
 * device applier never reaches the CLI or its libraries, and the CLI never reaches the applier.
 */

const root = join(import.meta.dirname, '..');

/** A top-level folder of the repository, as an import reaches it. */
type Area = 'shared' | 'filesystem' | 'applier' | 'cli' | 'other';

/** Every kind of source file an import can sit in. */
const SOURCE_NAMES = /\.(ts|mts|js|mjs)$/;
const DEVICE_PACKAGES = [/^node:/, /^tar-stream$/];

interface Rule {
  area: Area;
  description: string;
  /** May a file of `area` import something in `target` (a package name when target is undefined)? */
  allows(target: Area | undefined, specifier: string): boolean;
}

const RULES: Rule[] = [
  {
    area: 'shared',
    description: 'shared/ imports only itself, node built-ins and tar-stream',
    allows: (target, specifier) => (target === undefined ? DEVICE_PACKAGES.some((p) => p.test(specifier)) : target === 'shared'),
  },
  {
    area: 'filesystem',
    description: 'filesystem/ imports only itself, shared/ and node built-ins',
    allows: (target, specifier) => (target === undefined ? specifier.startsWith('node:') : target === 'filesystem' || target === 'shared'),
  },
  {
    area: 'applier',
    description: 'applier/ imports only itself, filesystem/, shared/, node built-ins and tar-stream',
    allows: (target, specifier) =>
      target === undefined ? DEVICE_PACKAGES.some((p) => p.test(specifier)) : target === 'applier' || target === 'filesystem' || target === 'shared',
  },
  {
    area: 'cli',
    description: 'cli/ never imports applier/',
    allows: (target) => target !== 'applier',
  },
];

/** Every module specifier a source text names: static imports and re-exports, side-effect imports, dynamic imports. */
function importsIn(text: string): string[] {
  const fromClauses = [...text.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"]*?\sfrom\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
  const bare = [...text.matchAll(/(?:^|[\s;])import\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
  const dynamic = [...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]);
  return [...fromClauses, ...bare, ...dynamic];
}

/** The area a repository-relative path lies in. */
function areaOf(path: string): Area {
  const top = path.split('/')[0];
  return top === 'shared' || top === 'filesystem' || top === 'applier' || top === 'cli' ? top : 'other';
}

/** The breaches of the rule for `area` in one file's imports; `file` is repository-relative, with forward slashes. */
function breaches(rule: Rule, file: string, specifiers: string[]): string[] {
  return specifiers
    .filter((specifier) => {
      const target = specifier.startsWith('.') ? areaOf(posix.normalize(posix.join(posix.dirname(file), specifier))) : undefined;
      return !rule.allows(target, specifier);
    })
    .map((specifier) => `${file} imports ${specifier}`);
}

function areaBreaches(rule: Rule): string[] {
  return sourceFiles(join(root, rule.area), SOURCE_NAMES).flatMap((path) => {
    const file = relative(root, path).split(sep).join('/');
    return breaches(rule, file, importsIn(readFileSync(path, 'utf8')));
  });
}

const ruleFor = (area: Area): Rule => RULES.find((rule) => rule.area === area)!;

for (const rule of RULES) {
  t.test(rule.description, async (t) => {
    t.ok(sourceFiles(join(root, rule.area), SOURCE_NAMES).length > 0, `${rule.area}/ has source files to check`);
    t.same(areaBreaches(rule), []);
  });
}

t.test('the import scanner finds every form of import', async (t) => {
  const text = [
    "import { a } from './a.js';",
    "import type { B } from '../b.js';",
    'import {\n  c,\n  d,\n} from "./c.js";',
    "export { e } from './e.js';",
    "export * from './f.js';",
    "import './side-effect.js';",
    "const g = await import('./g.js');",
    "import h from 'node:fs';",
  ].join('\n');
  t.same(importsIn(text).sort(), ['../b.js', './a.js', './c.js', './e.js', './f.js', './g.js', './side-effect.js', 'node:fs'].sort());
});

t.test('the scanner sees the imports of a real file', async (t) => {
  t.same(
    importsIn(readFileSync(join(root, 'cli/src/base-command.ts'), 'utf8')).filter((s) => s.startsWith('@oclif/')),
    ['@oclif/core'],
  );
});

t.test('each rule refuses what it forbids and allows what it permits', async (t) => {
  const cases: [Area, string, string, 'allowed' | 'refused'][] = [
    ['cli', 'cli/src/lib/dockerfile/root-filesystem.ts', '../../../../applier/update/update.js', 'refused'],
    ['cli', 'cli/src/commands/run.ts', '../../../applier/main.js', 'refused'],
    ['cli', 'cli/src/lib/dockerfile/root-filesystem.ts', '../../../../filesystem/extract.js', 'allowed'],
    ['cli', 'cli/src/lib/dockerfile/root-filesystem.ts', '../../../../shared/oci.js', 'allowed'],
    ['cli', 'cli/src/commands/run.ts', '@oclif/core', 'allowed'],
    ['applier', 'applier/update/update.ts', '../../cli/src/lib/keys.js', 'refused'],
    ['applier', 'applier/main.ts', '@oclif/core', 'refused'],
    ['applier', 'applier/update/fetch/source.ts', 'undici', 'refused'],
    ['applier', 'applier/update/update.ts', '../../filesystem/extract.js', 'allowed'],
    ['applier', 'applier/update/update.ts', '../device-store/device-store.js', 'allowed'],
    ['applier', 'applier/update/update.ts', 'tar-stream', 'allowed'],
    ['filesystem', 'filesystem/extract.ts', '../applier/log.js', 'refused'],
    ['filesystem', 'filesystem/extract.ts', '../cli/src/lib/keys.js', 'refused'],
    ['filesystem', 'filesystem/extract.ts', 'tar-stream', 'refused'],
    ['filesystem', 'filesystem/extract.ts', '../shared/tar/split.js', 'allowed'],
    ['filesystem', 'filesystem/extract.ts', './durable.js', 'allowed'],
    ['filesystem', 'filesystem/extract.ts', 'node:fs', 'allowed'],
    ['shared', 'shared/oci.ts', '../filesystem/durable.js', 'refused'],
    ['shared', 'shared/oci.ts', '../applier/log.js', 'refused'],
    ['shared', 'shared/tar/split.ts', '../../cli/src/lib/keys.js', 'refused'],
    ['shared', 'shared/oci.ts', 'p-limit', 'refused'],
    ['shared', 'shared/tar/split.ts', '../digest.js', 'allowed'],
    ['shared', 'shared/tar/split.ts', 'tar-stream', 'allowed'],
  ];
  for (const [area, file, specifier, verdict] of cases) {
    const expected = verdict === 'refused' ? [`${file} imports ${specifier}`] : [];
    t.same(breaches(ruleFor(area), file, [specifier]), expected, `${area}: ${specifier} from ${file} is ${verdict}`);
  }
});
