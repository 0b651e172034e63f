// The diagnose activity: one `diagnose { ... }` step of an escalating run, on its machine: an
// allow-listed command (worker.hcl allowed_commands, as runbook steps), an HTTP GET or a PromQL
// query. What it saw goes in the page, capped at 8 KiB per step.
import type { CommandSettings } from './command';
import { runAllowedCommand } from './command';
import { httpGet } from './http-check';
import { prometheusQuery } from './prometheus';
import type { PrometheusQueryConfig } from '../src/config/worker';
import type { DiagnoseStep } from '../workflows/shared/input';

/** Bytes of output one diagnosis keeps (UTF-8), its cut marker included. */
export const DIAGNOSIS_MAX_BYTES = 8 * 1024;

/** A diagnose step with its templates filled in by the workflow. */
export type DiagnoseRequest = DiagnoseStep;

export interface Diagnosis {
  name: string;
  /** What the step saw, or "not run: why". */
  output: string;
  /** True when output was cut to DIAGNOSIS_MAX_BYTES. */
  truncated: boolean;
}

/**
 * `text` within `max` UTF-8 bytes: its end (command output: the last lines matter) or its start
 * (an HTTP body, a query result), with a marker saying how much was cut.
 */
export function capOutput(text: string, keep: 'head' | 'tail', max = DIAGNOSIS_MAX_BYTES): { text: string; truncated: boolean } {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= max) return { text, truncated: false };
  const marker = keep === 'tail' ? `[${bytes.length} bytes, the first ones cut]\n` : `\n[${bytes.length} bytes, the rest cut]`;
  const room = Math.max(0, max - Buffer.byteLength(marker));
  // A multi-byte character cut in half decodes to U+FFFD: drop it.
  const part = (keep === 'tail' ? bytes.subarray(bytes.length - room) : bytes.subarray(0, room)).toString('utf8');
  const clean = keep === 'tail' ? part.replace(/^\uFFFD+/, '') : part.replace(/\uFFFD+$/, '');
  return { text: keep === 'tail' ? marker + clean : clean + marker, truncated: true };
}

export interface DiagnoseSettings extends CommandSettings {
  prometheus?: PrometheusQueryConfig;
}

/** Runs one diagnose step; a step that cannot run at all (not allowed, not configured) throws. */
export async function diagnose(settings: DiagnoseSettings, fetchImpl: typeof fetch, req: DiagnoseRequest): Promise<Diagnosis> {
  const timeoutMs = req.timeoutMs ?? 10_000;
  const done = (output: string, keep: 'head' | 'tail'): Diagnosis => {
    const capped = capOutput(output, keep);
    return { name: req.name, output: capped.text, truncated: capped.truncated };
  };
  switch (req.kind) {
    case 'command': {
      const r = await runAllowedCommand(settings, { command: req.command, args: req.args, timeoutMs });
      const status = r.timedOut ? 'timed out' : r.exitCode !== null ? `exit ${r.exitCode}` : `killed by ${r.signal}`;
      const stderr = r.stderr.trim() ? `${r.stdout.trim() ? '\n' : ''}[stderr] ${r.stderr.trimEnd()}` : '';
      if (!r.truncated) return done(`${r.stdout.trimEnd()}${stderr}\n(${status})`, 'tail');
      // Past worker.hcl max_output_bytes the exec kept only the start: show that, and say so.
      const d = done(`(${status}; output beyond max_output_bytes dropped)\n${r.stdout.trimEnd()}${stderr}`, 'head');
      return { ...d, truncated: true };
    }
    case 'http_check': {
      const r = await httpGet(fetchImpl, req.url, timeoutMs, DIAGNOSIS_MAX_BYTES * 2);
      return done(r.status === undefined ? `no answer: ${r.error}` : `HTTP ${r.status}\n${r.body}`, 'head');
    }
    case 'prometheus_check': {
      const r = await prometheusQuery(fetchImpl, settings.prometheus, { query: req.query, timeoutMs });
      const lines = r.samples.map((s) => {
        const labels = Object.entries(s.labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
        return `{${labels.join(', ')}} ${s.value}`;
      });
      return done([`${r.samples.length} series`, ...lines].join('\n'), 'head');
    }
  }
}
