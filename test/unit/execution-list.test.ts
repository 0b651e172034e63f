import { executionListQuery } from '../../src/coordinator/execution-list';

describe('executionListQuery', () => {
  it.each([
    [{}, 'MedicWorkflow IS NOT NULL'],
    [{ workflow: 'cleanDisk' }, "MedicWorkflow IS NOT NULL AND MedicWorkflow = 'cleanDisk'"],
    [
      { workflow: 'w', node: 'host1', status: 'timed_out' as const },
      "MedicWorkflow IS NOT NULL AND MedicWorkflow = 'w' AND MedicNode = 'host1' AND ExecutionStatus = 'TimedOut'",
    ],
    [{ status: 'cancelled' as const }, "MedicWorkflow IS NOT NULL AND ExecutionStatus = 'Canceled'"],
    [{ ladder: 'restartService:1a2b' }, "MedicWorkflow IS NOT NULL AND MedicLadder = 'restartService:1a2b'"],
  ])('%j -> %s', (filter, query) => {
    expect(executionListQuery(filter)).toBe(query);
  });

  it('refuses a value with a quote instead of pasting it into the query', () => {
    expect(() => executionListQuery({ node: "a' OR 'b" })).toThrow(/cannot be used in a visibility query/);
  });
});
