/**
 * The tidy rules (issue 13): pure functions over the repository's TypeScript sources held in memory
 * as `{ repo-relative posix path -> source text }`. Nothing here reads the disk; tidy.test.ts does.
 *
 *   upward-import    a product file imports only from its own folder or from a folder of strictly
 *                    lower rank (see LAYERS), never sideways into another folder of the same rank
 *                    and never from test/. Type-only imports, `export … from`, `import('…')`,
 *                    `import('…').T` types and `new URL('…', import.meta.url)` all count.
 *   machines-impure  machines/ (the pure Raft core) imports no package but xstate and no Node
 *                    builtin, and touches no clock, randomness, timer or process global.
 *   dead-export      a product module exports a name that no other module (product or test) imports.
 *                    Re-exports (`export { x } from`, `export *`, `export type *`) pass the use on
 *                    to the module they come from; `import * as ns` uses the `ns.x` it reads (all of
 *                    them if ns escapes); `import('…')` and `new URL('…', import.meta.url)` use all.
 *
 * Sources are parsed with ts.createSourceFile (no program, no type checker), so comments and
 * strings never count and the whole repository takes a fraction of a second.
 */
import path from 'node:path';
import ts from 'typescript';

export type Rule = 'upward-import' | 'machines-impure' | 'dead-export';

export interface Violation {
  readonly rule: Rule;
  /** Repo-relative posix path of the offending file. */
  readonly file: string;
  /** 1-based line. */
  readonly line: number;
  readonly detail: string;
}

/** Repo-relative posix path -> source text. */
export type Sources = ReadonlyMap<string, string>;

/** The product's layers, bottom to top: a folder may import only itself or strictly lower ranks. */
const LAYERS: readonly { readonly folder: string; readonly rank: number }[] = [
  { folder: 'machines', rank: 0 },
  { folder: 'transport/wire', rank: 0 },
  { folder: 'transport/commands', rank: 0 },
  { folder: 'storage', rank: 1 },
  { folder: 'transport/peer', rank: 1 },
  { folder: 'transport/client', rank: 1 },
  { folder: 'actors/raft', rank: 2 },
  { folder: 'actors/sessions', rank: 3 },
  { folder: 'actors/host', rank: 4 },
  { folder: 'bin', rank: 5 },
];

/** Top-level directories holding product code (everything else read is test code). */
const PRODUCT_ROOTS = ['machines', 'storage', 'transport', 'actors', 'bin'];

/** The public entry points: every export of these counts as used (and so does what they re-export). */
export const ENTRY_POINTS: readonly string[] = ['bin/sessionraft.ts', 'transport/client/client.ts'];

/** Globals machines/ must not reach: the clock, randomness, timers, the process and the host. */
const IMPURE_GLOBALS = new Set([
  'Date',
  'performance',
  'process',
  'setTimeout',
  'setInterval',
  'setImmediate',
  'clearTimeout',
  'clearInterval',
  'clearImmediate',
  'queueMicrotask',
  'crypto',
  'globalThis',
]);

export function isProduct(file: string): boolean {
  return PRODUCT_ROOTS.some((r) => file.startsWith(`${r}/`));
}

/** The layer folder of a repo-relative path, or undefined when it is in none. */
function layerOf(file: string): { readonly folder: string; readonly rank: number } | undefined {
  return LAYERS.find((l) => file.startsWith(`${l.folder}/`));
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** Analysed files, reused while the text is the same (the teeth tests re-run on mostly real sources). */
const analysed = new Map<string, { text: string; info: ModuleInfo }>();

/** Parent pointers are not set (that costs a third of the parse): walks pass the parent down. */
function parse(file: string, text: string): ts.SourceFile {
  return ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
}

/** Calls `fn(node, parent)` on every node below `root`, depth first. */
function walk(root: ts.Node, fn: (node: ts.Node, parent: ts.Node) => void): void {
  const visit =
    (parent: ts.Node) =>
    (node: ts.Node): void => {
      fn(node, parent);
      ts.forEachChild(node, visit(node));
    };
  ts.forEachChild(root, visit(root));
}

function lineOf(sf: ts.SourceFile, node: ts.Node): number {
  return sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
}

/** How a module refers to another one. */
type RefKind = 'import' | 'export-from' | 'dynamic-import' | 'import-type' | 'url' | 'require';

interface ModuleRef {
  readonly spec: string;
  readonly kind: RefKind;
  readonly line: number;
  /** The names this reference uses from the target ('default' for a default import). */
  readonly names: readonly string[];
  /** Uses every export of the target (dynamic import, URL, `export *` is handled separately). */
  readonly all: boolean;
  /** `import * as ns`: the local namespace name, whose `ns.x` reads are the uses. */
  readonly namespace?: string;
}

/** A re-export: `export { from as name } from 'spec'`, `export * as name from`, `export * from`. */
interface ReExport {
  readonly spec: string;
  readonly line: number;
  /** Exported name; undefined for `export *`. */
  readonly name?: string;
  /** Name in the target; undefined for `export * as name` (the whole module). */
  readonly from?: string;
}

interface ModuleInfo {
  readonly sf: ts.SourceFile;
  readonly refs: readonly ModuleRef[];
  /** Names declared here and exported (including `export { local as name }`), with their line. */
  readonly localExports: ReadonlyMap<string, number>;
  readonly reExports: readonly ReExport[];
}

function stringArg(node: ts.Expression | undefined): string | undefined {
  return node !== undefined && ts.isStringLiteralLike(node) ? node.text : undefined;
}

function hasModifier(node: ts.Node, kind: ts.SyntaxKind): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === kind);
}

function bindingNames(name: ts.BindingName, out: string[]): void {
  if (ts.isIdentifier(name)) out.push(name.text);
  else for (const el of name.elements) if (!ts.isOmittedExpression(el)) bindingNames(el.name, out);
}

function analyse(file: string, text: string): ModuleInfo {
  const hit = analysed.get(file);
  if (hit !== undefined && hit.text === text) return hit.info;
  const info = analyseUncached(file, parse(file, text));
  analysed.set(file, { text, info });
  return info;
}

function analyseUncached(file: string, sf: ts.SourceFile): ModuleInfo {
  const refs: ModuleRef[] = [];
  const localExports = new Map<string, number>();
  const reExports: ReExport[] = [];
  const addExport = (name: string, node: ts.Node): void => {
    if (!localExports.has(name)) localExports.set(name, lineOf(sf, node));
  };

  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st)) {
      const spec = stringArg(st.moduleSpecifier)!;
      const clause = st.importClause;
      const names: string[] = [];
      let namespace: string | undefined;
      if (clause?.name !== undefined) names.push('default');
      const nb = clause?.namedBindings;
      if (nb !== undefined && ts.isNamespaceImport(nb)) namespace = nb.name.text;
      else if (nb !== undefined) for (const el of nb.elements) names.push((el.propertyName ?? el.name).text);
      refs.push({ spec, kind: 'import', line: lineOf(sf, st), names, all: false, ...(namespace !== undefined ? { namespace } : {}) });
    } else if (ts.isImportEqualsDeclaration(st) && ts.isExternalModuleReference(st.moduleReference)) {
      const spec = stringArg(st.moduleReference.expression);
      if (spec !== undefined) refs.push({ spec, kind: 'require', line: lineOf(sf, st), names: [], all: true });
    } else if (ts.isExportDeclaration(st)) {
      const spec = stringArg(st.moduleSpecifier);
      const clause = st.exportClause;
      if (spec === undefined) {
        if (clause !== undefined && ts.isNamedExports(clause)) for (const el of clause.elements) addExport(el.name.text, el);
        continue;
      }
      refs.push({ spec, kind: 'export-from', line: lineOf(sf, st), names: [], all: false });
      if (clause === undefined) reExports.push({ spec, line: lineOf(sf, st) });
      else if (ts.isNamespaceExport(clause)) reExports.push({ spec, line: lineOf(sf, st), name: clause.name.text });
      else for (const el of clause.elements) reExports.push({ spec, line: lineOf(sf, el), name: el.name.text, from: (el.propertyName ?? el.name).text });
    } else if (ts.isExportAssignment(st)) {
      if (st.isExportEquals !== true) addExport('default', st);
    } else if (hasModifier(st, ts.SyntaxKind.ExportKeyword)) {
      const isDefault = hasModifier(st, ts.SyntaxKind.DefaultKeyword);
      if (ts.isVariableStatement(st)) {
        for (const d of st.declarationList.declarations) {
          const names: string[] = [];
          bindingNames(d.name, names);
          for (const n of names) addExport(n, d);
        }
      } else if (
        ts.isFunctionDeclaration(st) ||
        ts.isClassDeclaration(st) ||
        ts.isInterfaceDeclaration(st) ||
        ts.isTypeAliasDeclaration(st) ||
        ts.isEnumDeclaration(st) ||
        ts.isModuleDeclaration(st)
      ) {
        const name = isDefault ? 'default' : st.name !== undefined && ts.isIdentifier(st.name) ? st.name.text : undefined;
        if (name !== undefined) addExport(name, st);
      }
    }
  }

  // References anywhere in the file: import('…'), import('…').T, require('…'), new URL('…', import.meta.url).
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node)) {
      const spec = stringArg(node.arguments[0]);
      if (spec !== undefined && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        refs.push({ spec, kind: 'dynamic-import', line: lineOf(sf, node), names: [], all: true });
      } else if (spec !== undefined && ts.isIdentifier(node.expression) && node.expression.text === 'require') {
        refs.push({ spec, kind: 'require', line: lineOf(sf, node), names: [], all: true });
      }
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg) && ts.isStringLiteral(arg.literal)) {
        let q = node.qualifier;
        while (q !== undefined && ts.isQualifiedName(q)) q = q.left;
        const names = q !== undefined ? [q.text] : [];
        refs.push({ spec: arg.literal.text, kind: 'import-type', line: lineOf(sf, node), names, all: q === undefined });
      }
    } else if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'URL') {
      const spec = stringArg(node.arguments?.[0]);
      const base = node.arguments?.[1];
      if (spec !== undefined && base !== undefined && isImportMetaUrl(base)) {
        refs.push({ spec, kind: 'url', line: lineOf(sf, node), names: [], all: true });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { sf, refs, localExports, reExports };
}

function isImportMetaUrl(node: ts.Expression): boolean {
  return (
    ts.isPropertyAccessExpression(node) &&
    node.name.text === 'url' &&
    ts.isMetaProperty(node.expression) &&
    node.expression.keywordToken === ts.SyntaxKind.ImportKeyword
  );
}

function isRelative(spec: string): boolean {
  return spec.startsWith('./') || spec.startsWith('../');
}

/** The repo-relative path a relative specifier names, as written (`.js`), before mapping to sources. */
function targetPath(from: string, spec: string): string {
  return path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
}

/** The source file a relative specifier resolves to, or undefined when it is not one of ours. */
function resolveSource(sources: Sources, from: string, spec: string): string | undefined {
  if (!isRelative(spec)) return undefined;
  const p = targetPath(from, spec);
  const candidates = p.endsWith('.js')
    ? [`${p.slice(0, -3)}.ts`, `${p.slice(0, -3)}.tsx`]
    : p.endsWith('.mjs')
      ? [`${p.slice(0, -4)}.mts`]
      : [p, `${p}.ts`, `${p}/index.ts`];
  return candidates.find((c) => sources.has(c));
}

function sortViolations(vs: Violation[]): Violation[] {
  return vs.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.rule.localeCompare(b.rule) || a.detail.localeCompare(b.detail));
}

// ---------------------------------------------------------------------------------------------
// Rule 1: imports run down the layers only

export function upwardImports(sources: Sources): Violation[] {
  const out: Violation[] = [];
  for (const [file, text] of sources) {
    if (!isProduct(file)) continue;
    const own = layerOf(file);
    if (own === undefined) {
      out.push({ rule: 'upward-import', file, line: 1, detail: `${file} is in no layer (add its folder to LAYERS in test/tidy/rules.ts)` });
      continue;
    }
    for (const ref of analyse(file, text).refs) {
      if (!isRelative(ref.spec)) continue;
      const target = targetPath(file, ref.spec);
      const what = `${ref.kind} of '${ref.spec}'`;
      if (target.startsWith('test/')) {
        out.push({ rule: 'upward-import', file, line: ref.line, detail: `${what}: product code imports from test/` });
        continue;
      }
      const to = layerOf(target);
      if (to === undefined) {
        out.push({ rule: 'upward-import', file, line: ref.line, detail: `${what}: ${target} is in no layer` });
      } else if (to.folder !== own.folder && to.rank >= own.rank) {
        const how = to.rank === own.rank ? 'sideways' : 'upward';
        out.push({
          rule: 'upward-import',
          file,
          line: ref.line,
          detail: `${what}: ${how} from ${own.folder}/ (rank ${own.rank}) to ${to.folder}/ (rank ${to.rank})`,
        });
      }
    }
  }
  return sortViolations(out);
}

// ---------------------------------------------------------------------------------------------
// Rule 2: machines/ is pure

export function machinesImpure(sources: Sources): Violation[] {
  const out: Violation[] = [];
  for (const [file, text] of sources) {
    if (!file.startsWith('machines/')) continue;
    const info = analyse(file, text);
    const sf = info.sf;
    for (const ref of info.refs) {
      if (isRelative(ref.spec) || ref.spec === 'xstate' || ref.spec.startsWith('xstate/')) continue;
      const why = ref.spec.startsWith('node:') || !ref.spec.includes('/') ? 'a Node builtin or package' : 'a package';
      out.push({ rule: 'machines-impure', file, line: ref.line, detail: `${ref.kind} of '${ref.spec}': machines/ may import only xstate, not ${why}` });
    }
    const flag = (node: ts.Node, what: string): void => {
      out.push({ rule: 'machines-impure', file, line: lineOf(sf, node), detail: `uses ${what}` });
    };
    walk(sf, (node, parent) => {
      if (!ts.isIdentifier(node) || isPropertyName(node, parent)) return;
      const name = node.text;
      if (IMPURE_GLOBALS.has(name)) flag(node, name);
      else if (name === 'Math') {
        if (ts.isPropertyAccessExpression(parent) && parent.expression === node) {
          if (parent.name.text === 'random') flag(parent, 'Math.random');
        } else {
          flag(node, 'Math other than Math.x (could reach Math.random)');
        }
      }
    });
  }
  return sortViolations(out);
}

/** An identifier that names a member (after a dot, a property key), not a global reference. */
function isPropertyName(id: ts.Identifier, p: ts.Node): boolean {
  if (ts.isPropertyAccessExpression(p) && p.name === id) return true;
  if (ts.isQualifiedName(p) && p.right === id) return true;
  if (ts.isBindingElement(p) && p.propertyName === id) return true;
  if (
    (ts.isPropertyAssignment(p) ||
      ts.isPropertyDeclaration(p) ||
      ts.isPropertySignature(p) ||
      ts.isMethodDeclaration(p) ||
      ts.isMethodSignature(p) ||
      ts.isGetAccessorDeclaration(p) ||
      ts.isSetAccessorDeclaration(p) ||
      ts.isEnumMember(p)) &&
    p.name === id
  ) {
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Rule 3: dead exports

export function deadExports(sources: Sources, entryPoints: readonly string[] = ENTRY_POINTS): Violation[] {
  const infos = new Map<string, ModuleInfo>();
  for (const [file, text] of sources) infos.set(file, analyse(file, text));

  /** All names a module exports, `export *` followed (without `default`, as ES modules do). */
  const namesCache = new Map<string, ReadonlySet<string>>();
  const exportNames = (file: string, seen: Set<string> = new Set()): ReadonlySet<string> => {
    const cached = namesCache.get(file);
    if (cached !== undefined) return cached;
    const info = infos.get(file);
    const names = new Set<string>();
    if (info === undefined || seen.has(file)) return names;
    seen.add(file);
    for (const n of info.localExports.keys()) names.add(n);
    for (const r of info.reExports) {
      if (r.name !== undefined) names.add(r.name);
      else {
        const t = resolveSource(sources, file, r.spec);
        if (t !== undefined) for (const n of exportNames(t, seen)) if (n !== 'default') names.add(n);
      }
    }
    namesCache.set(file, names);
    return names;
  };

  const used = new Map<string, Set<string>>();
  /** `export *` lines something was found through. */
  const starsUsed = new Set<ReExport>();
  const markUsed = (file: string, name: string): void => {
    const info = infos.get(file);
    if (info === undefined) return;
    let set = used.get(file);
    if (set === undefined) used.set(file, (set = new Set()));
    if (set.has(name)) return;
    set.add(name);
    if (info.localExports.has(name)) return;
    for (const r of info.reExports) {
      const t = resolveSource(sources, file, r.spec);
      if (r.name === name) {
        if (t === undefined) return;
        if (r.from === undefined) markAll(t);
        else markUsed(t, r.from);
        return;
      }
    }
    for (const r of info.reExports) {
      if (r.name !== undefined || name === 'default') continue;
      const t = resolveSource(sources, file, r.spec);
      if (t !== undefined && exportNames(t).has(name)) {
        starsUsed.add(r);
        markUsed(t, name);
      }
    }
  };
  const markAll = (file: string): void => {
    for (const n of exportNames(file)) markUsed(file, n);
  };

  for (const e of entryPoints) if (infos.has(e)) markAll(e);
  for (const [file, info] of infos) {
    for (const ref of info.refs) {
      const t = resolveSource(sources, file, ref.spec);
      if (t === undefined || t === file) continue;
      if (ref.all) markAll(t);
      for (const n of ref.names) markUsed(t, n);
      if (ref.namespace !== undefined) {
        const reads = namespaceReads(info.sf, ref.namespace);
        if (reads === 'all') markAll(t);
        else for (const n of reads) markUsed(t, n);
      }
    }
  }

  const out: Violation[] = [];
  for (const [file, info] of infos) {
    if (!isProduct(file)) continue;
    const u = used.get(file) ?? new Set<string>();
    for (const [name, line] of info.localExports) {
      if (!u.has(name)) out.push({ rule: 'dead-export', file, line, detail: `'${name}' is exported but no other module imports it` });
    }
    for (const r of info.reExports) {
      if (r.name !== undefined) {
        if (!u.has(r.name))
          out.push({ rule: 'dead-export', file, line: r.line, detail: `'${r.name}' is re-exported from '${r.spec}' but no other module imports it from here` });
      } else if (!starsUsed.has(r) && !entryPoints.includes(file)) {
        out.push({ rule: 'dead-export', file, line: r.line, detail: `export * from '${r.spec}': no other module imports anything through it` });
      }
    }
  }
  return sortViolations(out);
}

/** The `ns.x` names read from `import * as ns`, or 'all' when ns is used any other way. */
function namespaceReads(sf: ts.SourceFile, ns: string): Set<string> | 'all' {
  const names = new Set<string>();
  let all = false;
  walk(sf, (node, p) => {
    if (!ts.isIdentifier(node) || node.text !== ns || isPropertyName(node, p) || ts.isNamespaceImport(p)) return;
    if (ts.isPropertyAccessExpression(p) && p.expression === node) names.add(p.name.text);
    else if (ts.isQualifiedName(p) && p.left === node) names.add(p.right.text);
    else all = true;
  });
  return all ? 'all' : names;
}

// ---------------------------------------------------------------------------------------------

/** All three rules. */
export function checkTidy(sources: Sources, entryPoints: readonly string[] = ENTRY_POINTS): Violation[] {
  return sortViolations([...upwardImports(sources), ...machinesImpure(sources), ...deadExports(sources, entryPoints)]);
}

export function formatViolations(vs: readonly Violation[]): string {
  return vs.map((v) => `  ${v.file}:${v.line}  [${v.rule}]  ${v.detail}`).join('\n');
}
