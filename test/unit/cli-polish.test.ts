// CLI polish: `medic status` as clean tables (facts, steps, activities; one line per cell) and
// `medic completion bash|zsh` made from the command table.
import { execFileSync } from 'node:child_process';
import { bashCompletion, zshCompletion } from '../../src/cli/completion';
import type { Command } from '../../src/command/command';
import { loadCommands } from '../../src/cli/commands';
import { colours } from '../../src/cli/output';
import { statusText, type StatusBody } from '../../src/cli/queries';

const plain = colours({ isTTY: false } as unknown as NodeJS.WritableStream);

const failed: StatusBody = {
  workflow_id: 'healDemo:idempotency:trigger-1',
  run_id: 'r1',
  workflow: 'healDemo',
  status: 'FAILED',
  task_queue: 'medic:node:host1',
  target: { node: 'host1', datacenter: 'dev1' },
  trigger: 'spiffe://medic.dev/trigger/dev',
  start_time: '2026-11-29T02:00:19.981Z',
  close_time: '2026-11-29T02:00:40.001Z',
  failure: 'runbook healDemo: step "clear-stale-lock" failed\n  unlink: cannot unlink: Is a directory',
  progress: {
    status: 'failed',
    step: 'clear-stale-lock',
    step_number: 2,
    steps: ['see-it-failing', 'clear-stale-lock', 'service-answers'],
    detail: 'command failed\n(exit 1)',
  },
  history: {
    events: 30,
    activities: [
      { activity_type: 'httpCheck', status: 'completed' },
      { activity_type: 'command', status: 'failed' },
      { activity_type: 'notify', status: 'failed' },
    ],
  },
};

describe('medic status', () => {
  it('lays out facts, then steps and activities as separate aligned tables, one line per cell', () => {
    expect(statusText(failed, plain)).toBe(
      [
        'workflow     healDemo',
        'id           healDemo:idempotency:trigger-1',
        'status       FAILED',
        'outcome      failed: runbook healDemo: step "clear-stale-lock" failed unlink: cannot unlink: Is a directory',
        'node         host1',
        'datacenter   dev1',
        'task queue   medic:node:host1',
        'triggered by spiffe://medic.dev/trigger/dev',
        'started      2026-11-29 02:00:19Z',
        'closed       2026-11-29 02:00:40Z',
        '',
        'STEP  NAME              STATE',
        '1/3   see-it-failing    done',
        '2/3   clear-stale-lock  failed: command failed (exit 1)',
        '3/3   service-answers   pending',
        '',
        '#  ACTIVITY   STATUS',
        '1  httpCheck  completed',
        '2  command    failed',
        '3  notify     failed',
        '',
      ].join('\n'),
    );
  });

  it('shows a step outside the runbook (escalate) as a fact, and a running step as running', () => {
    const escalating = statusText({ ...failed, status: 'RUNNING', progress: { ...failed.progress, step: 'escalate' } }, plain);
    expect(escalating).toContain('step         [2/3] escalate: command failed (exit 1)');
    const running = statusText({ ...failed, status: 'RUNNING', failure: undefined }, plain);
    expect(running).toContain('2/3   clear-stale-lock  running: command failed (exit 1)');
  });
});

describe('medic completion', () => {
  let COMMANDS: Command[];
  beforeAll(async () => {
    COMMANDS = await loadCommands();
  });

  it('bash: completes every command and its flags, and is valid bash', () => {
    const script = bashCompletion(COMMANDS);
    for (const c of COMMANDS) expect(script).toContain(`    ${c.name}) words="`);
    expect(script).toMatch(/ {4}list\) words="[^"]*--watch/);
    expect(script).toMatch(/ {4}demo\) words="break fix serve /);
    expect(script).toContain('complete -o default -F _medic medic');
    execFileSync('bash', ['-n'], { input: script }); // syntax check
    const out = execFileSync('bash', ['-c', `${script}\nCOMP_WORDS=(medic li); COMP_CWORD=1; _medic; echo "\${COMPREPLY[@]}"`], {
      encoding: 'utf8',
    });
    expect(out.trim()).toBe('list');
    const flags = execFileSync(
      'bash',
      ['-c', `${script}\nCOMP_WORDS=(medic demo break --h); COMP_CWORD=3; _medic; echo "\${COMPREPLY[@]}"`],
      { encoding: 'utf8' },
    );
    expect(flags.trim().split(' ').sort()).toEqual(['--hard', '--help']);
  });

  it('zsh: a #compdef script naming every command with its summary', () => {
    const script = zshCompletion(COMMANDS);
    expect(script.startsWith('#compdef medic\n')).toBe(true);
    for (const c of COMMANDS) expect(script).toContain(`'${c.name}:`);
    expect(script).toContain('compdef _medic medic');
  });
});
