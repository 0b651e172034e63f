// Log rules in the real `medic trigger`: two daemons follow one real file through a rename, a
// truncation, a restart while the file was rotated, a line of megabytes and a reload, and ask for exactly
// the same episodes with the same keys; a unit's journal is followed through the real journalctl
// on a journal written by systemd-journal-remote (skipped, and named so, where it is missing).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { metricSample } from '../helpers/metrics-text';
import { keysOf, printed, sourceConfigDir, startRecordingCoordinator, startSourceDaemon } from '../helpers/trigger-sources';
import { waitFor } from '../helpers/wait';

jest.setTimeout(180_000);

const OOM = (pid: number) => `2024/05/01 12:00:00 [alert] 1#1: worker process ${pid} exited on signal 9\n`;
const NOISE = '2024/05/01 12:00:00 [notice] 1#1: signal 17 (SIGCHLD) received\n';

const logRule = (file: string, source = `file = "${file}"`) => `
rule "nginx_oom" {
  source   = "log"
  ${source}
  match    = "worker process (?P<pid>[0-9]+) exited on signal 9"
  count    = 3
  window   = "3s"
  workflow = "w"
  reason   = "worker {{ $labels.pid }} OOM-killed on {{ $node }}"
  target { node = "{{ $node }}" }
}
`;

describe('log rules (medic trigger)', () => {
  it('two daemons send one start per episode, with one key, through rename, truncation, restart, huge lines and a reload', async () => {
    const [coordA, coordB] = [await startRecordingCoordinator(), await startRecordingCoordinator()];
    const dir = sourceConfigDir(logRule('logs/app.log'));
    const logs = path.join(dir, 'triggers', 'logs');
    const file = path.join(logs, 'app.log');
    fs.mkdirSync(logs);
    // Matches from before the daemons started are history: they start at the end of the file.
    fs.writeFileSync(file, OOM(1) + OOM(2) + OOM(3));
    const append = (text: string) => fs.appendFileSync(file, text);
    let a = await startSourceDaemon(dir, coordA, path.join(dir, 'a.json'));
    const b = await startSourceDaemon(dir, coordB, path.join(dir, 'b.json'));
    try {
      await printed(a.proc, /following log file/, 1);
      await printed(b.proc, /following log file/, 1);

      // Episode 1: three matches among other lines.
      append(NOISE + OOM(10) + NOISE + OOM(11) + OOM(12));
      await waitFor('episode 1 at both', () =>
        coordA.triggers().length >= 1 && coordB.triggers().length >= 1 ? true : undefined,
      );
      expect(coordA.triggers()[0]).toMatchObject({ target: { node: 'web-1' }, reason: 'worker 12 OOM-killed on web-1' });
      await printed(a.proc, /log episode ended/, 1);
      await printed(b.proc, /log episode ended/, 1);

      // Episode 2, across a rename: two matches in the old file, one in the new.
      append(OOM(20) + OOM(21));
      fs.renameSync(file, `${file}.1`);
      fs.writeFileSync(file, OOM(22));
      await waitFor('episode 2 at both', () =>
        coordA.triggers().length >= 2 && coordB.triggers().length >= 2 ? true : undefined,
      );
      expect(coordB.triggers()[1]!.reason).toBe('worker 22 OOM-killed on web-1');
      await printed(a.proc, /log episode ended/, 2);
      await printed(b.proc, /log episode ended/, 2);

      // Episode 3, after copytruncate: the file starts again from 0, a 5 MiB line with no
      // newline for a while in the middle of the matches.
      fs.truncateSync(file, 0);
      await printed(a.proc, /log file truncated/, 1);
      await printed(b.proc, /log file truncated/, 1);
      append(OOM(30) + 'x'.repeat(5 << 20));
      append('\n' + OOM(31) + OOM(32));
      await waitFor('episode 3 at both', () =>
        coordA.triggers().length >= 3 && coordB.triggers().length >= 3 ? true : undefined,
      );
      expect(coordA.triggers()[2]!.reason).toBe('worker 32 OOM-killed on web-1');
      await printed(a.proc, /log episode ended/, 3);
      await printed(b.proc, /log episode ended/, 3);
      const cut = metricSample(await (await fetch(b.metricsUrl!)).text(), 'medic_trigger_log_cut_lines_total');
      expect(cut).toBe(1);

      // Episode 4 while daemon A is stopped and the file is rotated: A, restarted, reads the rest
      // of the old file (found by its inode) and then the new one, and opens the same episode.
      await a.proc.stop();
      append(OOM(40));
      fs.renameSync(file, `${file}.2`);
      fs.writeFileSync(file, NOISE + OOM(41) + OOM(42));
      await waitFor('episode 4 at B', () => (coordB.triggers().length >= 4 ? true : undefined));
      a = await startSourceDaemon(dir, coordA, path.join(dir, 'a.json'));
      await waitFor('episode 4 at A', () => (coordA.triggers().length >= 4 ? true : undefined));
      expect(a.proc.output()).toMatch(/log file was rotated while stopped; read the rest of the old file first/);
      expect(coordA.triggers()[3]!.reason).toBe('worker 42 OOM-killed on web-1');

      // A reload (SIGHUP) that changes the rule: B goes on from its position and its counts.
      await printed(a.proc, /log episode ended/, 1);
      await printed(b.proc, /log episode ended/, 4);
      const rules = path.join(dir, 'triggers', 'rules.hcl');
      fs.writeFileSync(rules, fs.readFileSync(rules, 'utf8').replace('OOM-killed on', 'killed by the OOM killer on'));
      b.proc.child.kill('SIGHUP');
      await printed(b.proc, /configuration reloaded/, 1);
      append(OOM(50) + OOM(51) + OOM(52));
      await waitFor('episode 5 at both', () =>
        coordA.triggers().length >= 5 && coordB.triggers().length >= 5 ? true : undefined,
      );
      expect(coordB.triggers()[4]!.reason).toBe('worker 52 killed by the OOM killer on web-1');

      // Nothing more comes: neither re-read old matches nor sent anything twice.
      await printed(a.proc, /log episode ended/, 2);
      await printed(b.proc, /log episode ended/, 5);
      const keys = keysOf(coordA);
      expect(keys).toEqual(keysOf(coordB));
      expect(new Set(keys).size).toBe(5);
      expect(keys.every((k) => /^trigger-log-[0-9a-f]{40}$/.test(k))).toBe(true);
    } finally {
      await Promise.all([a.proc.stop(), b.proc.stop()]);
      await Promise.all([coordA.close(), coordB.close()]);
    }
  });

  const journalRemote = ['/lib/systemd/systemd-journal-remote', '/usr/lib/systemd/systemd-journal-remote'].find((f) =>
    fs.existsSync(f),
  );
  const journalctl = (() => {
    try {
      execFileSync('journalctl', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  const journalTest = journalRemote && journalctl ? it : it.skip;
  journalTest(
    `follows a unit's journal through journalctl, resuming after its cursor${journalRemote && journalctl ? '' : ' (SKIPPED: needs journalctl and systemd-journal-remote, apt-get install systemd-journal-remote)'}`,
    async () => {
      const coordA = await startRecordingCoordinator();
      const coordB = await startRecordingCoordinator();
      const dir = sourceConfigDir(logRule('', 'journal_unit = "app.service"\n  journal_directory = "journal"'));
      const journal = path.join(dir, 'triggers', 'journal');
      fs.mkdirSync(journal);
      const bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().replace(/-/g, '');
      let seq = 0;
      /** Appends entries of `unit` to the journal (Journal Export Format through systemd-journal-remote). */
      const log = (unit: string, ...messages: string[]) => {
        const entries = messages
          .map((m) => {
            seq += 1;
            return `__REALTIME_TIMESTAMP=${Date.now() * 1000 + seq}\n__MONOTONIC_TIMESTAMP=${seq}\n_BOOT_ID=${bootId}\n_SYSTEMD_UNIT=${unit}\nMESSAGE=${m}\n\n`;
          })
          .join('');
        execFileSync(journalRemote!, ['-o', path.join(journal, 'remote.journal'), '-'], {
          input: entries,
          stdio: ['pipe', 'ignore', 'ignore'],
        });
      };
      log('app.service', 'starting'); // the journal exists before journalctl follows it
      let a = await startSourceDaemon(dir, coordA, path.join(dir, 'a.json'));
      const b = await startSourceDaemon(dir, coordB, path.join(dir, 'b.json'));
      try {
        // journalctl follows from the end as it finds it when it starts: log until both read.
        for (const d of [a, b]) {
          await waitFor(`journalctl of pid ${d.proc.pid} reading`, async () => {
            log('app.service', 'ready');
            const text = await (await fetch(d.metricsUrl!)).text();
            return metricSample(text, 'medic_trigger_log_lines_total') > 0 ? true : undefined;
          });
        }
        log('other.service', OOM(1).trim(), OOM(2).trim(), OOM(3).trim());
        log('app.service', OOM(10).trim(), OOM(11).trim(), OOM(12).trim());
        await waitFor('the episode at both', () => (coordA.triggers().length && coordB.triggers().length ? true : undefined));
        expect(coordA.triggers()[0]!.reason).toBe('worker 12 OOM-killed on web-1');
        await printed(a.proc, /log episode ended/, 1);

        // A restarts after a new episode was logged while it was stopped: it resumes after its
        // saved cursor, so it sends the second episode (journal timestamps: the same key) once.
        await a.proc.stop();
        log('app.service', OOM(20).trim(), OOM(21).trim(), OOM(22).trim());
        await waitFor('episode 2 at B', () => (coordB.triggers().length >= 2 ? true : undefined));
        a = await startSourceDaemon(dir, coordA, path.join(dir, 'a.json'));
        await waitFor('episode 2 at A', () => (coordA.triggers().length >= 2 ? true : undefined));
        await printed(a.proc, /log episode ended/, 1);
        expect(keysOf(coordA)).toEqual(keysOf(coordB));
        expect(new Set(keysOf(coordA)).size).toBe(2);
      } finally {
        await Promise.all([a.proc.stop(), b.proc.stop()]);
        await Promise.all([coordA.close(), coordB.close()]);
      }
    },
  );
});
