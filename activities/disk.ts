// Disk cleanup: remove regular files whose name matches a pattern and that are older than a cut-off,
// only under the directories worker.hcl `cleanup_paths` allows. Symlinks are never followed or
// removed (not even one swapped in during the cleanup), ".." never passes, and the walk stays on
// the filesystem it started on. Linux only: it relies on /proc/self/fd.
import { constants as fsConstants, promises as fs, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
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

// Directories are walked through open file descriptors, openat-style: each one is opened with
// O_NOFOLLOW | O_DIRECTORY and its entries are reached as /proc/self/fd/<fd>/<name>, which the
// kernel resolves from that very directory, never by walking the path again. A directory swapped
// for a symlink after it was listed fails to open (ELOOP) instead of being followed, and unlink
// and lstat never follow a final symlink, so nothing outside the cleanup path can be touched.
const OPEN_DIR = fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW;

/** `name` inside the directory open as `dir`, resolved by the kernel from the descriptor. */
function at(dir: FileHandle, name: string): string {
  return `/proc/self/fd/${dir.fd}/${name}`;
}

export async function cleanFiles(allowedRoots: readonly string[], req: CleanRequest, now = Date.now()): Promise<CleanResult> {
  if (!Array.isArray(req.patterns) || req.patterns.length === 0) throw new InvalidRequestError('give at least one pattern');
  const patterns = req.patterns.map(globToRegExp);
  if (!(Number.isFinite(req.olderThanMs) && req.olderThanMs >= 0))
    throw new InvalidRequestError('olderThanMs must be a duration >= 0');
  const { dir, root } = await resolveAllowed(req.path, allowedRoots);
  const cutoff = now - req.olderThanMs;
  const result: CleanResult = { path: dir, filesRemoved: 0, bytesFreed: 0, filesKept: 0, errors: [], dryRun: !!req.dryRun };
  const fail = (file: string, err: unknown): void => {
    if (result.errors.length < 20) result.errors.push(`${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  };
  let top: FileHandle;
  try {
    top = await fs.open(dir, OPEN_DIR);
  } catch (err) {
    throw new PathNotAllowedError(`${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let seen = 0;

  const walk = async (handle: FileHandle, shown: string, dev: number): Promise<void> => {
    cancellation()?.throwIfAborted();
    let names: string[];
    try {
      names = await fs.readdir(`/proc/self/fd/${handle.fd}`);
    } catch (err) {
      return fail(shown, err);
    }
    for (const name of names) {
      const full = path.join(shown, name);
      let st: Stats;
      try {
        st = await fs.lstat(at(handle, name));
      } catch (err) {
        fail(full, err);
        continue;
      }
      if (st.isDirectory()) {
        // Stay on one filesystem, like find -xdev: a mount below the path is someone else's.
        if (st.dev !== dev) continue;
        let sub: FileHandle;
        try {
          sub = await fs.open(at(handle, name), OPEN_DIR);
        } catch (err) {
          fail(full, err); // ELOOP: swapped for a symlink since the lstat; not followed
          continue;
        }
        try {
          const opened = await sub.stat();
          if (opened.dev === dev && opened.ino === st.ino) await walk(sub, full, dev);
          else fail(full, 'replaced while being cleaned; skipped');
        } finally {
          await sub.close();
        }
        continue;
      }
      if (!st.isFile() || !patterns.some((p) => p.test(name))) continue;
      if (st.mtimeMs > cutoff) {
        result.filesKept += 1;
        continue;
      }
      try {
        // unlink removes the name itself: if it became a symlink meanwhile, the link goes, not its target.
        if (!req.dryRun) await fs.unlink(at(handle, name));
        result.filesRemoved += 1;
        result.bytesFreed += st.size;
      } catch (err) {
        fail(full, err);
      }
      if (++seen % 200 === 0) heartbeat({ filesRemoved: result.filesRemoved, bytesFreed: result.bytesFreed });
    }
  };
  try {
    // The descriptor, not the name, is what gets cleaned: check where it really is.
    const real = await fs.readlink(`/proc/self/fd/${top.fd}`);
    if (!inside(real, root)) throw new PathNotAllowedError(`${dir} moved outside the cleanup path (${real}); not cleaned`);
    await walk(top, dir, (await top.stat()).dev);
  } finally {
    await top.close();
  }
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
