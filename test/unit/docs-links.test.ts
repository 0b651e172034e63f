// Every relative link in README.md, CONTRIBUTING.md and docs/ points to a file that exists, and
// every #anchor to a heading of its page, so a moved or renamed page cannot leave a dead link.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { documentationFiles, readDocumentation, REPO_ROOT, splitMarkdown, type ProseLine } from '../helpers/docs';

/** GitHub's heading anchor: the rendered text, lower-cased, without punctuation, spaces as hyphens. */
function headingAnchor(heading: string): string {
  const rendered = heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\\(.)/g, '$1');
  return rendered
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of a page's headings, numbered as GitHub numbers repeats (`x`, `x-1`, ...). */
function anchorsOf(prose: ProseLine[]): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const { text } of prose) {
    const m = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (!m) continue;
    const base = headingAnchor(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

interface Link {
  file: string;
  line: number;
  target: string;
}

/** Inline links and images outside code: `[text](target)`, `![alt](target)`. */
function linksOf(file: string, prose: ProseLine[]): Link[] {
  return prose.flatMap(({ line, text }) =>
    [...text.replace(/(`+)[\s\S]*?\1/g, '').matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => ({
      file,
      line,
      target: m[1]!,
    })),
  );
}

const pages = new Map(documentationFiles().map((file) => [file, splitMarkdown(readDocumentation(file)).prose]));
const relative = [...pages]
  .flatMap(([file, prose]) => linksOf(file, prose))
  .filter((l) => !/^[a-z][a-z0-9+.-]*:/i.test(l.target));

describe('links in the documentation', () => {
  it('has relative links to check, in README.md and in docs/', () => {
    expect(relative.some((l) => l.file === 'README.md')).toBe(true);
    expect(relative.some((l) => l.file.startsWith('docs/'))).toBe(true);
  });

  it.each(relative.map((l) => [`${l.file}:${l.line} -> ${l.target}`, l]))('%s resolves', (_where, link) => {
    const [pathPart, anchor] = link.target.split('#', 2) as [string, string | undefined];
    const target = pathPart === '' ? link.file : path.posix.join(path.posix.dirname(link.file), decodeURI(pathPart));
    expect(fs.existsSync(path.join(REPO_ROOT, target)) ? target : `missing: ${target}`).toBe(target);
    if (anchor !== undefined && target.endsWith('.md')) {
      const prose = pages.get(target) ?? splitMarkdown(readDocumentation(target)).prose;
      expect([...anchorsOf(prose)]).toContain(anchor);
    }
  });
});

describe('headingAnchor', () => {
  it.each([
    ['Quick start', 'quick-start'],
    ['`medic temporal setup --config DIR`', 'medic-temporal-setup---config-dir'],
    ['workflows/&lt;name&gt;.hcl', 'workflowsnamehcl'],
    ['Activities (`activities/`, built by `createActivities(deps)`)', 'activities-activities-built-by-createactivitiesdeps'],
    [
      'Dev server vs. cluster (`MEDIC_BENCH_TARGET=cluster`, 2026-11-29)',
      'dev-server-vs-cluster-medic_bench_targetcluster-2026-11-29',
    ],
    ['triggers/\\*.hcl', 'triggershcl'],
  ])('%s -> #%s', (heading, anchor) => {
    expect(headingAnchor(heading)).toBe(anchor);
  });
});
