// Layers point down: no import cycle between folders of the code, except a folder and its own
// subfolder (a parent and its child may know each other). Type-only imports count too: a type
// imported from a role's folder ties a lower layer to it as much as a value does.
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const TOP = ['src', 'cmd', 'workflows', 'activities'];

function sources(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The folder a file belongs to, relative to the repository: `src/ledger`, `workflows`, `src` (a file at src/'s top). */
function folderOf(file: string): string {
  return path.relative(ROOT, path.dirname(file)).split(path.sep).join('/');
}

/** Folder -> folders it imports from, each with one example import. */
export function folderGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of TOP.flatMap((t) => sources(path.join(ROOT, t)))) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\b[^;'"]*?from\s+'(\.{1,2}\/[^']+)'/gm)) {
      const target = path.resolve(path.dirname(file), m[1]!);
      const resolved = fs.existsSync(`${target}.ts`) ? `${target}.ts` : path.join(target, 'index.ts');
      const [from, to] = [folderOf(file), folderOf(resolved)];
      if (from === to) continue;
      if (!graph.has(from)) graph.set(from, new Map());
      if (!graph.get(from)!.has(to)) graph.get(from)!.set(to, `${path.relative(ROOT, file)} -> ${m[1]}`);
    }
  }
  return graph;
}

const related = (a: string, b: string): boolean => a.startsWith(`${b}/`) || b.startsWith(`${a}/`);

/** Cycles of the graph without parent/child edges, as strongly connected components of more than one folder. */
function cycles(graph: Map<string, Map<string, string>>): string[][] {
  const nodes = new Set([...graph.keys(), ...[...graph.values()].flatMap((m) => [...m.keys()])]);
  const edges = (v: string): string[] => [...(graph.get(v)?.keys() ?? [])].filter((w) => !related(v, w));
  let index = 0;
  const stack: string[] = [];
  const on = new Set<string>();
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of edges(v)) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of nodes) if (!idx.has(v)) visit(v);
  return found;
}

test('no import cycle between folders, apart from a folder and its subfolder', () => {
  const graph = folderGraph();
  const explained = cycles(graph).map((c) => {
    const inCycle = new Set(c);
    const why = c.flatMap((a) =>
      [...(graph.get(a) ?? [])]
        .filter(([b]) => inCycle.has(b) && !related(a, b))
        .map(([b, example]) => `${a} -> ${b} (${example})`),
    );
    return `cycle of ${c.length} folders: ${c.join(', ')}\n  ${why.join('\n  ')}`;
  });
  expect(explained).toEqual([]);
});

/** The roles' folders; only the launchers (cmd/, src/cli, src/dev) and the role itself import from them. */
const ROLES = ['src/coordinator', 'src/trigger', 'src/worker'];
const LAUNCHERS = ['cmd', 'src/cli', 'src/dev'];
const within = (folder: string, root: string): boolean => folder === root || folder.startsWith(`${root}/`);

test("no folder imports a role's folder, apart from the role itself and the launchers", () => {
  const sideways = [...folderGraph()].flatMap(([from, tos]) =>
    [...tos]
      .filter(([to]) => ROLES.some((r) => within(to, r) && !within(from, r)) && !LAUNCHERS.some((l) => within(from, l)))
      .map(([to, example]) => `${from} -> ${to} (${example})`),
  );
  expect(sideways).toEqual([]);
});
