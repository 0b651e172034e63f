// The project's Markdown documentation (README.md, CONTRIBUTING.md, docs/**/*.md) split into
// fenced blocks and prose lines, for the tests that check its examples and links.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const REPO_ROOT = path.join(__dirname, '..', '..');

/** The documentation files, relative to the repository root, in a stable order. */
export function documentationFiles(): string[] {
  const docs = (fs.readdirSync(path.join(REPO_ROOT, 'docs'), { recursive: true }) as string[])
    .filter((f) => f.endsWith('.md'))
    .map((f) => path.posix.join('docs', f.split(path.sep).join('/')))
    .sort();
  return ['README.md', 'CONTRIBUTING.md', ...docs];
}

export interface FencedBlock {
  /** The info string's first word: `hcl`, `sh`, or '' for a bare fence. */
  lang: string;
  /** 1-based line of the block's first content line. */
  line: number;
  text: string;
}

export interface ProseLine {
  line: number;
  text: string;
}

/** Splits Markdown into its fenced code blocks and the lines outside them (CommonMark fences: ``` or ~~~, 3 or more). */
export function splitMarkdown(markdown: string): { blocks: FencedBlock[]; prose: ProseLine[] } {
  const blocks: FencedBlock[] = [];
  const prose: ProseLine[] = [];
  let open: { fence: string; lang: string; line: number; lines: string[] } | undefined;
  markdown.split('\n').forEach((text, i) => {
    const fence = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/.exec(text);
    if (!open) {
      if (fence) open = { fence: fence[1]!, lang: fence[2]!.toLowerCase(), line: i + 2, lines: [] };
      else prose.push({ line: i + 1, text });
    } else if (fence && fence[1]!.startsWith(open.fence) && fence[1]![0] === open.fence[0] && !fence[2]) {
      blocks.push({ lang: open.lang, line: open.line, text: open.lines.join('\n') + '\n' });
      open = undefined;
    } else {
      open.lines.push(text);
    }
  });
  if (open) throw new Error(`unclosed code fence opened at line ${open.line - 1}`);
  return { blocks, prose };
}

export function readDocumentation(file: string): string {
  return fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');
}
