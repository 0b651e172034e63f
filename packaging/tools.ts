// Tool provisioning for `npm run package`: nfpm, crane and helm, each built once per machine from
// its pinned Go module into ${XDG_CACHE_HOME:-~/.cache}/medic/tools/<module@version>/, with progress.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findGo, goInstall, goToolPath, type Progress } from '../src/temporal/binary';

/** Pinned versions. nfpm 2.46+ needs go.digitalxero.dev modules the Go proxy does not serve. */
export const TOOLS = {
  nfpm: 'github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2',
  crane: 'github.com/google/go-containerregistry/cmd/crane@v0.22.1',
  helm: 'helm.sh/helm/v3/cmd/helm@v3.22.0',
} as const;

export type Tool = keyof typeof TOOLS;

export class ToolError extends Error {
  override name = 'ToolError';
}

/** Where a tool's pinned build lives; the version in the path keeps a new pin from reusing an old build. */
export function toolPath(tool: Tool): string {
  return goToolPath(TOOLS[tool]);
}

/** The tool's binary, built with `go install` the first time. */
export async function ensureTool(tool: Tool, progress: Progress): Promise<string> {
  const bin = toolPath(tool);
  if (fs.existsSync(bin)) return bin;
  const go = findGo();
  if (!go) throw new ToolError(`${tool} is not in ${path.dirname(bin)} and there is no Go toolchain to build ${TOOLS[tool]}`);
  return goInstall(go, TOOLS[tool], progress);
}

/** All three, one after the other (the builds share Go's module and build caches). */
export async function ensureTools(progress: Progress): Promise<Record<Tool, string>> {
  const out = {} as Record<Tool, string>;
  for (const tool of Object.keys(TOOLS) as Tool[]) out[tool] = await ensureTool(tool, progress);
  return out;
}
