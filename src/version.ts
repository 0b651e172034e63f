// What this medic is: its version, the commit and date it was built from, and its Temporal SDK.
// The packaged executable carries these facts (packaging/sea.ts); a checkout reads package.json and
// the commit `npm run build` recorded (dist/build-info.json; `node dist/src/version.js` writes it),
// and asks git only when that record is missing or older than the build.
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

/** Where `npm run build` records the commit it built (a checkout only). */
export function buildRecordFile(root: string): string {
  return path.join(root, 'dist', 'build-info.json');
}

/**
 * The commit a checkout's build recorded, when the record is of this build (same build date);
 * else undefined. Spawning git twice costs `medic version` about 15 ms.
 */
function recordedCommit(root: string, buildDate: string): string | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(buildRecordFile(root), 'utf8')) as { commit?: unknown; buildDate?: unknown };
    return r.buildDate === buildDate && typeof r.commit === 'string' ? r.commit : undefined;
  } catch {
    return undefined;
  }
}

/** The build facts of a checkout at `root`. */
export function checkoutBuildInfo(root: string): BuildInfo {
  const buildDate = checkoutBuildDate(root);
  return {
    version: versionOf(path.join(root, 'package.json')),
    commit: recordedCommit(root, buildDate) ?? checkoutCommit(root),
    buildDate,
    temporalSdk: versionOf(require.resolve('@temporalio/worker/package.json')),
  };
}

/** Records the commit of this build for `medic version` (the last step of `npm run build`). */
export function recordBuild(root: string): void {
  const buildDate = checkoutBuildDate(root);
  fs.writeFileSync(buildRecordFile(root), JSON.stringify({ commit: checkoutCommit(root), buildDate }) + '\n');
}

let info: BuildInfo | undefined;

/** Version, commit, build date and SDK version of this medic. */
export function buildInfo(): BuildInfo {
  if (info) return info;
  return (info = embeddedBuildInfo() ?? checkoutBuildInfo(packageRoot()));
}

export function medicVersion(): string {
  return embeddedBuildInfo()?.version ?? versionOf(path.join(packageRoot(), 'package.json'));
}

if (require.main === module) recordBuild(packageRoot());
