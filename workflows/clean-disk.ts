// cleanDisk: the "disk almost full" runbook. Remove files matching the configured patterns and
// older than N days under allowed paths, report what was freed, and verify that usage dropped
// (and, if given, that the Prometheus condition cleared). Otherwise hand over to a human.
import { isCancellation, sleep } from '@temporalio/workflow';
import type { CleanResult, DiskUsage } from '../activities';
import type { WorkflowInput } from './shared/input';
import { onMachine } from './activity-options';
import { escalate } from './escalation';
import { remediation, type OutcomeFields } from './outcome';
import { ParamReader } from './params';

export interface CleanDiskResult extends OutcomeFields {
  node?: string;
  filesRemoved: number;
  bytesFreed: number;
  usageBefore: DiskUsage;
  usageAfter: DiskUsage;
  perPath: CleanResult[];
}

const ABSOLUTE = /^\/\S*$/;

function percent(u: DiskUsage): string {
  return `${(u.usedRatio * 100).toFixed(1)}%`;
}

export async function cleanDisk(input: WorkflowInput): Promise<CleanDiskResult> {
  return remediation(input, ['check', 'measure', 'clean', 'measure again', 'verify'], async ({ progress, current }) => {
    const p = new ParamReader(input);
    const paths = p.list('paths', { required: true });
    for (const path of paths)
      if (!ABSOLUTE.test(path)) p.problem(`params.paths: ${JSON.stringify(path)} is not an absolute path`);
    const patterns = p.list('patterns', { required: true });
    const olderThanMs = p.duration('older_than', '7d');
    const mountpoint = p.string('mountpoint', { pattern: ABSOLUTE, patternHelp: 'is not an absolute path' }) ?? paths[0] ?? '/';
    const verifyQuery = p.string('verify_query');
    const verifyTimeoutMs = p.duration('verify_timeout', '5m', { max: 3_600_000 });
    // Prometheus sees the freed space only after the next scrape of node_exporter.
    const verifyEveryMs = p.duration('verify_every', '15s', { min: 100, max: 3_600_000 });
    p.done();

    const acts = onMachine(input);
    // The condition already cleared (someone else cleaned up, the alert was stale): nothing to heal.
    if (current && verifyQuery) {
      progress.step('check', 'does verify_query still return series?');
      const firing = (await acts.prometheusQuery({ query: verifyQuery })).samples.length;
      if (firing === 0) {
        const usage = await acts.diskUsage({ path: mountpoint });
        return {
          outcome: 'nothing_to_heal',
          summary: `nothing to heal: verify_query returns no series; ${mountpoint} is ${percent(usage)} full`,
          node: input.target.node,
          filesRemoved: 0,
          bytesFreed: 0,
          usageBefore: usage,
          usageAfter: usage,
          perPath: [],
        };
      }
    }

    progress.step('measure', `usage of ${mountpoint}`);
    const usageBefore = await acts.diskUsage({ path: mountpoint });
    progress.note(`${mountpoint} is ${percent(usageBefore)} full`);

    progress.step('clean', `${patterns.join(', ')} older than ${olderThanMs / 86_400_000} days`);
    const perPath: CleanResult[] = [];
    for (const path of paths) {
      const r = await acts.cleanFiles({ path, patterns, olderThanMs });
      perPath.push(r);
      progress.note(
        `${path}: ${r.filesRemoved} files, ${r.bytesFreed} bytes freed${r.errors.length ? `, ${r.errors.length} errors` : ''}`,
      );
    }
    const filesRemoved = perPath.reduce((n, r) => n + r.filesRemoved, 0);
    const bytesFreed = perPath.reduce((n, r) => n + r.bytesFreed, 0);

    progress.step('measure again');
    const usageAfter = await acts.diskUsage({ path: mountpoint });
    const summary = `${filesRemoved} files, ${bytesFreed} bytes freed; ${mountpoint} ${percent(usageBefore)} -> ${percent(usageAfter)}`;

    progress.step('verify', summary);
    const where = `${mountpoint} on ${input.target.node ?? 'this node'}`;
    if (filesRemoved === 0)
      return escalate(
        progress,
        `cleanDisk: nothing to remove under ${paths.join(', ')}; ${where} is still ${percent(usageAfter)} full`,
      );
    if (usageAfter.usedBytes >= usageBefore.usedBytes) {
      // Usually a process still holds the deleted files open: the space comes back only when it closes them.
      return escalate(progress, `cleanDisk: removed ${summary}, but usage did not drop (files held open?)`);
    }
    if (verifyQuery) {
      const deadline = Date.now() + verifyTimeoutMs;
      for (;;) {
        let left = 0;
        try {
          left = (await acts.prometheusQuery({ query: verifyQuery })).samples.length;
        } catch (err) {
          if (isCancellation(err)) throw err;
          return escalate(progress, `cleanDisk: ${summary}, but verify_query could not run: ${(err as Error).message}`);
        }
        if (left === 0) break;
        if (Date.now() >= deadline)
          return escalate(progress, `cleanDisk: ${summary}, but verify_query still returns ${left} series`);
        progress.note(`verify_query still returns ${left} series; waiting for the next scrape`);
        await sleep(verifyEveryMs);
      }
    }
    return {
      outcome: 'healed',
      summary: `healed: ${summary}`,
      node: input.target.node,
      filesRemoved,
      bytesFreed,
      usageBefore,
      usageAfter,
      perPath,
    };
  });
}
