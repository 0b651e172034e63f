// The command table of cmd/medic.ts: `medic --help` prints its names and summaries without
// loading any command, so they must be the ones each command module declares.
import { COMMANDS, findCommand, findSubcommand } from '../../src/cli/commands';

describe('the command table', () => {
  it('names each command once, with the name and summary its module declares (a changed summary changes in both places)', async () => {
    expect(new Set(COMMANDS.map((c) => c.name)).size).toBe(COMMANDS.length);
    for (const entry of COMMANDS.flatMap((c) => [c, ...(c.subcommands ?? [])])) {
      const cmd = await entry.load();
      expect({ name: cmd.name, summary: cmd.summary }).toEqual({ name: entry.name, summary: entry.summary });
    }
  });

  it('finds a subcommand by the word after its command (medic trigger backtest)', () => {
    const trigger = findCommand('trigger')!;
    expect(findSubcommand(trigger, 'backtest')?.name).toBe('trigger backtest');
    expect(findSubcommand(trigger, 'back')).toBeUndefined();
    expect(findSubcommand(trigger, undefined)).toBeUndefined();
    expect(findSubcommand(findCommand('status')!, 'backtest')).toBeUndefined();
  });

  it('finds a command by its exact name only', () => {
    expect(findCommand('status')?.name).toBe('status');
    expect(findCommand('stat')).toBeUndefined();
    expect(findCommand('toString')).toBeUndefined();
    expect(findCommand('')).toBeUndefined();
  });
});
