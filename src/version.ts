// What this medic is: its version, the commit and date it was built from, and its Temporal SDK.
// The packaged executable carries these facts (packaging/sea.ts); a checkout reads package.json and asks git.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from './paths';
import { embeddedBuildInfo, type BuildInfo } from './single-executable/embedded';

function versionOf(pkgJson: string): string {
  return (JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { version: string }).version;
}

/** The commit of a checkout, with `-dirty` when it has uncommitted changes; `unknown` without git. */
function checkoutCommit(root: string): string {
  const git = (args: string[]): string =>
    execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 }).trim();
  try {
    const commit = git(['rev-parse', '--short=12', 'HEAD']);
    return git(['status', '--porcelain', '--untracked-files=no']) ? `${commit}-dirty` : commit;
  } catch {
    return 'unknown';
  }
}

/** When a checkout was built: the time of its compiled entry point, else `unbuilt`. */
function checkoutBuildDate(root: string): string {
  try {
    return fs.statSync(path.join(root, 'dist', 'cmd', 'medic.js')).mtime.toISOString();
  } catch {
    return 'unbuilt';
  }
}

let info: BuildInfo | undefined;

/** Version, commit, build date and SDK version of this medic. */
export function buildInfo(): BuildInfo {
  if (info) return info;
  const embedded = embeddedBuildInfo();
  if (embedded) return (info = embedded);
  const root = packageRoot();
  return (info = {
    version: versionOf(path.join(root, 'package.json')),
    commit: checkoutCommit(root),
    buildDate: checkoutBuildDate(root),
    temporalSdk: versionOf(require.resolve('@temporalio/worker/package.json')),
  });
}

export function medicVersion(): string {
  return embeddedBuildInfo()?.version ?? versionOf(path.join(packageRoot(), 'package.json'));
}
