/**
 * docs/architecture.md against the tree, read mechanically so the module contract cannot drift from the code:
 * - every source file under the directories it describes has an entry in its directory's section, by its whole name
 *   (`session.ts` is not named by `local-session.ts`; a header may go with its source as `x.cc/.h`);
 * - every file the doc names exists (a bare name anywhere in the described directories or test/, a path from the
 *   repository root or from src/);
 * - the imports keep the layering it states: src/ layers import only their own or earlier layers of the chain the doc
 *   gives, `clients/` only `protocol` and `ws`, `cli` only the client module the doc names, `dsp` nothing but dsp and
 *   protocol modules and no I/O global, `inference` no RxJS, and only one file loads the native binary.
 * Imports are read with TypeScript's own pre-processor (static imports, re-exports, `import()`, `require()`), so
 * comments and strings never count. The checks are pure functions of the doc text and the files, so the last test
 * shows on a hand-made tree that each of them catches what it looks for.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const architecture = readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8');

/** The directories whose source files the doc describes (src/ per layer: one section per `src/<layer>/`). */
const DESCRIBED_DIRS = ['src', 'clients', 'bench', 'native', 'training/voxgate_train'];
const SOURCE_FILE = /\.(?:ts|cjs|cc|h|sh|py)$/;
/** Globals that reach outside the process or the event loop: `dsp` is pure math and uses none. */
const IO_GLOBALS = new Set(['process', 'console', 'fetch', 'setTimeout', 'setInterval', 'setImmediate', 'require']);
const NATIVE_BINARY = 'voxgate_native';

/** Source files under `dir` (relative to the root), recursively, with repository-relative paths. */
function sourceFiles(dir: string): string[] {
  return (readdirSync(path.join(ROOT, dir), { recursive: true }) as string[])
    .filter((f) => SOURCE_FILE.test(f) && !f.split(path.sep).includes('__pycache__'))
    .map((f) => `${dir}/${f.split(path.sep).join('/')}`).sort();
}

/** The doc's level-2 sections as [heading, body]. */
function sections(doc: string): Array<[string, string]> {
  return doc.split('\n## ').slice(1).map((part) => [part.split('\n')[0]!, part]);
}

/** The directory whose section describes `file`: `src/<layer>`, else the described directory it lies in. */
function sectionDir(file: string, dirs: readonly string[]): string {
  if (file.startsWith('src/')) return file.split('/').slice(0, 2).join('/');
  return dirs.filter((d) => file.startsWith(`${d}/`)).sort((a, b) => b.length - a.length)[0]!;
}

/** Whether a heading is the section of `dir`: it starts with `dir/` or names `(dir/` in its parenthesis. */
const headsSectionOf = (heading: string, dir: string): boolean =>
  heading.startsWith(`${dir}/`) || heading.includes(`(${dir}/`);

/** The file names and paths a text names (`x.cc/.h` names both), without `../` paths and placeholders. */
function namedFiles(text: string): string[] {
  return [...text.matchAll(/[\w./-]+\.(?:ts|cjs|cc|h|sh|py)(?![\w-])/g)].map((m) => m[0])
    .flatMap((t) => (t.endsWith('.cc/.h') ? [t.slice(0, -'/.h'.length), t.replace(/\.cc\/\.h$/, '.h')] : [t]))
    .filter((t) => !t.startsWith('../') && !t.includes('...') && /^[\w-]/.test(t));
}

/** Whether the name `t` denotes `file` (its whole base name, or the end of its path). */
const denotes = (t: string, file: string): boolean => file === t || file.endsWith(`/${t}`);

/** `files` with no entry in their directory's section, each with why. */
function missingEntries(doc: string, files: readonly string[], dirs: readonly string[]): string[] {
  const all = sections(doc);
  return files.flatMap((file) => {
    const dir = sectionDir(file, dirs);
    const section = all.find(([heading]) => headsSectionOf(heading, dir));
    if (section === undefined) return [`${file}: no section for ${dir}/`];
    return namedFiles(section[1]).some((t) => denotes(t, file)) ? [] : [`${file}: not named in "${section[0]}"`];
  });
}

/** Names in `doc` that denote none of `known` and no path from the root or from src/. */
function unknownNames(doc: string, known: readonly string[], exists: (p: string) => boolean): string[] {
  return [...new Set(namedFiles(doc))].filter((t) =>
    !known.some((f) => denotes(t, f)) && !(t.includes('/') && (exists(t) || exists(`src/${t}`))));
}

interface LayerRules {
  /** src/ layers, lowest first. */
  order: readonly string[];
  /** The clients/ module `cli` may import. */
  cliClient: string;
}

/** Whether `file` may import `target` (a repository path or a package) under the doc's layering. */
function allowed(file: string, target: string, rules: LayerRules): boolean {
  const layerOf = (f: string): string => (f.startsWith('src/') ? f.split('/')[1]! : f.split('/')[0]!);
  const layer = layerOf(file);
  const local = /^(?:src|clients|bench|test|native|training)\//.test(target);
  if (layer === 'clients') {
    return local ? target.startsWith('clients/') || target.startsWith('src/protocol/') : target === 'ws';
  }
  if (!local) return layer !== 'dsp' && !(layer === 'inference' && /^rxjs(?:\/|$)/.test(target));
  if (!target.startsWith('src/')) return layer === 'cli' && target === rules.cliClient;
  const rank = rules.order.indexOf(layerOf(target));
  return rank !== -1 && rank <= rules.order.indexOf(layer);
}

/** Imports that break the doc's layering; `imports` maps a file to the repository paths or packages it imports. */
function layerViolations(imports: ReadonlyMap<string, readonly string[]>, rules: LayerRules): string[] {
  return [...imports].flatMap(([file, targets]) =>
    targets.filter((t) => !allowed(file, t, rules)).map((t) => `${file} imports ${t}`));
}

/** What `file` imports: repository paths (`.js` specifiers mapped to their `.ts` sources) and package names. */
function importsOf(file: string, text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map(({ fileName: spec }) => (spec.startsWith('.')
    ? path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '.ts')
    : spec));
}

/** I/O globals `text` calls or reads a member of (identifiers in code, never in comments or strings). */
function ioGlobalsUsed(text: string): string[] {
  const used: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) && IO_GLOBALS.has(node.text)) {
      const p = node.parent;
      if ((ts.isPropertyAccessExpression(p) || ts.isCallExpression(p)) && p.expression === node) used.push(node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile('x.ts', text, ts.ScriptTarget.Latest, true));
  return used;
}

/** The layer chain and the cli's client module, as the doc states them. */
function layerRules(doc: string): LayerRules {
  const chain = /Layers import only downward: `([^`]+)`/.exec(doc);
  const client = /`cli` also uses `(clients\/[\w.-]+\.ts)`/.exec(doc);
  expect(chain, 'the layering sentence').not.toBeNull();
  expect(client, 'the cli client sentence').not.toBeNull();
  return { order: chain![1]!.split('->').map((s) => s.trim()), cliClient: client![1]! };
}

const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');
const described = DESCRIBED_DIRS.flatMap(sourceFiles);
const code = [...sourceFiles('src'), ...sourceFiles('clients')].filter((f) => f.endsWith('.ts'));

describe('docs/architecture.md', () => {
  it('has an entry for every source file of src/, clients/, bench/, native/ and training/voxgate_train/', () => {
    expect(described.length).toBeGreaterThan(100);
    expect(missingEntries(architecture, described, DESCRIBED_DIRS)).toEqual([]);
  });

  it('names only files that exist', () => {
    const known = [...described, ...sourceFiles('test')];
    expect(unknownNames(architecture, known, (p) => existsSync(path.join(ROOT, p)))).toEqual([]);
  });

  it('states a layer chain of exactly the directories under src/', () => {
    expect([...layerRules(architecture).order].sort()).toEqual(readdirSync(path.join(ROOT, 'src')).sort());
  });

  it('holds in the imports: layers downward, clients on protocol and ws, dsp pure, inference without RxJS', () => {
    const imports = new Map(code.map((f) => [f, importsOf(f, read(f))]));
    expect([...imports.values()].flat().length).toBeGreaterThan(300);
    expect(layerViolations(imports, layerRules(architecture))).toEqual([]);
  });

  it('dsp touches no I/O global, and one file alone loads the native binary', () => {
    const dsp = code.filter((f) => f.startsWith('src/dsp/'));
    expect(dsp.length).toBeGreaterThan(5);
    expect(dsp.flatMap((f) => ioGlobalsUsed(read(f)).map((g) => `${f}: ${g}`))).toEqual([]);
    expect(architecture).toMatch(/`native-addon\.ts`: the only file that loads `build\/Release\/voxgate_native\.node`/);
    expect([...code, ...sourceFiles('bench')].filter((f) => read(f).includes(NATIVE_BINARY)))
      .toEqual(['src/inference/native-addon.ts']);
  });

  it('each check catches what it looks for (a hand-made tree)', () => {
    const doc = ['# t', 'Layers import only downward: `protocol -> dsp -> cli`. `cli` also uses `clients/a.ts`.',
      '## protocol (src/protocol/)', '- `errors.ts`, `gone.ts`', '## dsp (src/dsp/)', '- `fft.ts`',
      '## native/', '- `src/`: `core.cc/.h`', '## clients/', '- `a.ts`'].join('\n');
    const files = ['src/protocol/errors.ts', 'src/protocol/session.ts', 'src/dsp/fft.ts', 'src/cli/main.ts',
      'native/src/core.cc', 'native/src/core.h', 'native/src/extra.h', 'clients/a.ts', 'clients/b.ts'];
    expect(missingEntries(doc, files, ['src', 'clients', 'native'])).toEqual([
      'src/protocol/session.ts: not named in "protocol (src/protocol/)"', 'src/cli/main.ts: no section for src/cli/',
      'native/src/extra.h: not named in "native/"', 'clients/b.ts: not named in "clients/"']);
    expect(unknownNames(doc, files, () => false)).toEqual(['gone.ts']);
    const rules = layerRules(doc);
    expect(rules).toEqual({ order: ['protocol', 'dsp', 'cli'], cliClient: 'clients/a.ts' });
    expect(layerViolations(new Map([
      ['src/protocol/errors.ts', ['src/dsp/fft.ts']], ['src/dsp/fft.ts', ['src/protocol/errors.ts', 'rxjs', 'node:fs']],
      ['src/cli/main.ts', ['src/dsp/fft.ts', 'clients/a.ts', 'clients/b.ts', 'node:fs']],
      ['clients/a.ts', ['src/protocol/errors.ts', 'src/dsp/fft.ts', 'ws', 'node:net']],
    ]), rules)).toEqual(['src/protocol/errors.ts imports src/dsp/fft.ts', 'src/dsp/fft.ts imports rxjs',
      'src/dsp/fft.ts imports node:fs', 'src/cli/main.ts imports clients/b.ts', 'clients/a.ts imports src/dsp/fft.ts',
      'clients/a.ts imports node:net']);
    expect(layerViolations(new Map([['src/inference/x.ts', ['rxjs/operators']]]),
      { order: ['inference'], cliClient: '' })).toEqual(['src/inference/x.ts imports rxjs/operators']);
    expect(ioGlobalsUsed('// process.exit(1)\nconst s = "console.log";\nthis.processFrame(); console.warn(s);'))
      .toEqual(['console']);
  });
});
