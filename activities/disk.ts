// Disk cleanup: remove regular files whose name matches a pattern and that are older than a cut-off,
// only under the directories worker.hcl `cleanup_paths` allows. Symlinks are never followed or
// removed, ".." never passes, and the walk stays on the filesystem it started on.
import { promises as fs, type Stats } from 'node:fs';
import * as path from 'node:path';
import { InvalidRequestError, PathNotAllowedError } from './errors';
import { cancellation, heartbeat } from './context';

export interface CleanRequest {
  /** Absolute directory to clean, inside an allowed cleanup path. */
  path: string;
  /** Basename globs: `*` and `?` only, e.g. "*.gz", "app.log.?". */
  patterns: string[];
  /** Only files last modified longer ago than this are removed. */
  olderThanMs: number;
  /** Count what would go, remove nothing. */
  dryRun?: boolean;
}

export interface CleanResult {
  path: string;
  filesRemoved: number;
  bytesFreed: number;
  /** Matching files left alone: too recent. */
  filesKept: number;
  /** The first few files that could not be removed, with why. */
  errors: string[];
  dryRun: boolean;
}

export interface DiskUsage {
  path: string;
  totalBytes: number;
  usedBytes: number;
  availableBytes: number;
  /** usedBytes / totalBytes, 0..1. */
  usedRatio: number;
}

const PATTERN = /^[A-Za-z0-9._*?+@=,-]+$/;

/** A basename glob to a RegExp; throws InvalidRequestError for anything but a plain basename glob. */
export function globToRegExp(glob: string): RegExp {
  if (!PATTERN.test(glob) || glob === '.' || glob === '..') {
    throw new InvalidRequestError(
      `pattern ${JSON.stringify(glob)} must be a file-name glob (letters, digits, . _ - and * ?), no "/"`,
    );
  }
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

function inside(child: string, root: string): boolean {
  return child === root || child.startsWith(root.endsWith('/') ? root : root + '/');
}

/**
 * Resolves `requested` (symlinks included) and returns it when it lies inside one of the allowed
 * roots (also resolved), else throws PathNotAllowedError.
 */
export async function resolveAllowed(requested: string, allowedRoots: readonly string[]): Promise<{ dir: string; root: string }> {
  if (typeof requested !== 'string' || !path.isAbsolute(requested)) {
    throw new PathNotAllowedError(`${JSON.stringify(requested)} is not an absolute path`);
  }
  if (requested.split('/').includes('..')) throw new PathNotAllowedError(`${requested} contains ".."`);
  if (allowedRoots.length === 0) throw new PathNotAllowedError('worker.hcl cleanup_paths is empty, so no path may be cleaned');
  let dir: string;
  try {
    dir = await fs.realpath(requested);
  } catch (err) {
    throw new PathNotAllowedError(`${requested}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  for (const allowed of allowedRoots) {
    const root = await fs.realpath(allowed).catch(() => undefined);
    if (root && inside(dir, root)) return { dir, root };
  }
  throw new PathNotAllowedError(
    `${requested}${dir !== requested ? ` (really ${dir})` : ''} is not inside worker.hcl cleanup_paths (${allowedRoots.join(', ')})`,
  );
}

export async function cleanFiles(allowedRoots: readonly string[], req: CleanRequest, now = Date.now()): Promise<CleanResult> {
  if (!Array.isArray(req.patterns) || req.patterns.length === 0) throw new InvalidRequestError('give at least one pattern');
  const patterns = req.patterns.map(globToRegExp);
  if (!(Number.isFinite(req.olderThanMs) && req.olderThanMs >= 0))
    throw new InvalidRequestError('olderThanMs must be a duration >= 0');
  const { dir, root } = await resolveAllowed(req.path, allowedRoots);
  const cutoff = now - req.olderThanMs;
  const top = await fs.lstat(dir);
  const result: CleanResult = { path: dir, filesRemoved: 0, bytesFreed: 0, filesKept: 0, errors: [], dryRun: !!req.dryRun };
  const fail = (file: string, err: unknown): void => {
    if (result.errors.length < 20) result.errors.push(`${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  };
  let seen = 0;

  const walk = async (current: string): Promise<void> => {
    cancellation()?.throwIfAborted();
    // Re-resolve each directory before touching it: if a directory was swapped for a symlink
    // since we listed its parent, it now points elsewhere and is skipped.
    const real = await fs.realpath(current).catch(() => undefined);
    if (real !== current || !inside(real, root)) return fail(current, 'moved or escapes the cleanup path; skipped');
    let entries;
    try {
      entries = await fs.readdir(current, { withFileTypes: true });
    } catch (err) {
      return fail(current, err);
    }
    for (const e of entries) {
      const full = path.join(current, e.name);
      if (e.isDirectory()) {
        const st = await fs.lstat(full).catch(() => undefined);
        // Stay on one filesystem, like find -xdev: a mount below the path is someone else's.
        if (st?.isDirectory() && st.dev === top.dev) await walk(full);
        continue;
      }
      if (!e.isFile() || !patterns.some((p) => p.test(e.name))) continue;
      let st: Stats;
      try {
        st = await fs.lstat(full);
      } catch (err) {
        fail(full, err);
        continue;
      }
      if (!st.isFile()) continue;
      if (st.mtimeMs > cutoff) {
        result.filesKept += 1;
        continue;
      }
      try {
        if (!req.dryRun) await fs.unlink(full);
        result.filesRemoved += 1;
        result.bytesFreed += st.size;
      } catch (err) {
        fail(full, err);
      }
      if (++seen % 200 === 0) heartbeat({ filesRemoved: result.filesRemoved, bytesFreed: result.bytesFreed });
    }
  };
  await walk(dir);
  return result;
}

export async function diskUsage(p: string): Promise<DiskUsage> {
  if (typeof p !== 'string' || !path.isAbsolute(p)) throw new InvalidRequestError(`${JSON.stringify(p)} is not an absolute path`);
  const s = await fs.statfs(p);
  const totalBytes = s.blocks * s.bsize;
  const usedBytes = (s.blocks - s.bfree) * s.bsize;
  return {
    path: p,
    totalBytes,
    usedBytes,
    availableBytes: s.bavail * s.bsize,
    usedRatio: totalBytes ? usedBytes / totalBytes : 0,
  };
}
