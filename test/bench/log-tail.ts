// bench:log-tail — the built `medic trigger` (with the systemd unit's --max-old-space-size=256)
// follows a file while a writer appends LOG_TAIL_BYTES (default 1 GiB) of lines as fast as it can:
// mixed lengths, a match now and then, every 128 MiB a run of 1.5 MiB with no newline,
// and a rename rotation halfway. Samples the daemon's RSS from /proc and prints the peak against
// the idle RSS, with how fast it read and what it matched.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { metricSample } from '../helpers/metrics-text';
import { startTrigger } from '../helpers/medic-process';
import { sourceConfigDir, startRecordingCoordinator } from '../helpers/trigger-sources';
import { waitFor } from '../helpers/wait';

const TOTAL = Number(process.env.LOG_TAIL_BYTES ?? 1 << 30);
const MIB = 1 << 20;

/** The writer, as a process of its own so it does not share the bench's event loop. */
const WRITER = `
const fs = require('node:fs');
const [file, total] = [process.argv[1], Number(process.argv[2])];
const MIB = 1 << 20;
let fd = fs.openSync(file, 'a');
let written = 0, lines = 0, matches = 0, longRuns = 0, rotated = false, seed = 7, nextLong = 64 * MIB;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const buf = Buffer.alloc(4 * MIB);
while (written < total) {
  let n = 0;
  if (written >= nextLong) {
    nextLong += 128 * MIB;
    // More than 1 MiB with no newline, written in pieces like a runaway logger would.
    for (let i = 0; i < 3; i++) { fs.writeSync(fd, Buffer.alloc(MIB / 2, 0x78)); written += MIB / 2; }
    longRuns += 1;
  }
  while (n < buf.length - 2048) {
    lines += 1;
    let line;
    if (lines % 997 === 0) { matches += 1; line = '2024/05/01 12:00:00 [alert] 1#1: worker process ' + lines + ' exited on signal 9\\n'; }
    else line = '2024/05/01 12:00:00 [info] 1#1: ' + 'request served '.repeat(1 + Math.floor(rand() * 60)) + '\\n';
    n += buf.write(line, n);
  }
  fs.writeSync(fd, buf, 0, n);
  written += n;
  if (!rotated && written >= total / 2) {
    fs.closeSync(fd);
    fs.renameSync(file, file + '.1');
    fd = fs.openSync(file, 'a');
    rotated = true;
  }
}
fs.closeSync(fd);
process.stdout.write(JSON.stringify({ written, lines, matches, longRuns }) + '\\n');
`;

function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

async function metrics(url: string): Promise<string> {
  return (await fetch(url)).text();
}

async function main(): Promise<void> {
  const coordinator = await startRecordingCoordinator();
  const dir = sourceConfigDir(`
rule "bench_oom" {
  source   = "log"
  file     = "app.log"
  match    = "worker process (?P<pid>[0-9]+) exited on signal 9"
  count    = 3
  window   = "1s"
  workflow = "w"
}
`);
  const file = path.join(dir, 'triggers', 'app.log');
  fs.writeFileSync(file, '');
  const daemon = await startTrigger(
    dir,
    ['--coordinator-address', coordinator.url, '--state-file', path.join(dir, 'state.json')],
    {
      env: { NODE_OPTIONS: '--max-old-space-size=256' },
    },
  );
  const pid = daemon.proc.pid;
  try {
    await daemon.proc.waitFor(/following log file/);
    let idle = 0;
    for (let i = 0; i < 20; i++) {
      idle = Math.max(idle, rssMiB(pid));
      await new Promise((r) => setTimeout(r, 100));
    }

    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 50);
    const started = Date.now();
    const writer = spawn(process.execPath, ['-e', WRITER, file, String(TOTAL)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    writer.stdout.on('data', (b: Buffer) => (out += b.toString()));
    await new Promise((resolve) => writer.once('close', resolve));
    const wroteMs = Date.now() - started;
    const wrote = JSON.parse(out) as { written: number; lines: number; matches: number; longRuns: number };
    const read = await waitFor(
      'the daemon to read everything written',
      async () => {
        const text = await metrics(daemon.metricsUrl!);
        const bytes = metricSample(text, 'medic_trigger_log_read_bytes_total');
        return bytes >= wrote.written ? text : undefined;
      },
      30 * 60_000,
      100,
    );
    const readMs = Date.now() - started;
    clearInterval(sampler);
    peak = Math.max(peak, rssMiB(pid));

    const mib = (b: number) => (b / MIB).toFixed(0);
    const lines = metricSample(read, 'medic_trigger_log_lines_total');
    console.log(
      `bench:log-tail — medic trigger following one file (--max-old-space-size=256), ${new Date().toISOString().slice(0, 10)}`,
    );
    console.log(
      `  written      ${mib(wrote.written)} MiB in ${(wroteMs / 1000).toFixed(1)} s: ${wrote.lines} lines, ${wrote.matches} matches, ${wrote.longRuns} runs of 1.5 MiB without a newline, 1 rename`,
    );
    console.log(
      `  read         all of it ${(readMs / 1000).toFixed(1)} s after the writer started (${(wrote.written / MIB / (readMs / 1000)).toFixed(0)} MiB/s)`,
    );
    console.log(
      `  daemon saw   ${lines} lines, ${metricSample(read, 'medic_trigger_log_matches_total')} matches, ${metricSample(read, 'medic_trigger_log_cut_lines_total')} cut lines, ${metricSample(read, 'medic_trigger_log_rotations_total')} rotation(s), ${coordinator.triggers().length} episode(s) sent`,
    );
    console.log(
      `  RSS          idle ${idle.toFixed(1)} MiB, peak ${peak.toFixed(1)} MiB (+${(peak - idle).toFixed(1)} MiB, ×${(peak / idle).toFixed(2)})`,
    );
  } finally {
    await daemon.proc.stop();
    await coordinator.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
