// src/failpoints.ts: unarmed failpoints pass at once; an armed one says so on stderr and never passes.
import { FAILPOINTS, failpointsFrom } from '../../src/failpoints';

/** Whether `p` settles before the macrotask queue turns once (an armed failpoint never does). */
async function settlesNow(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setImmediate(r));
  return settled;
}

function stderr(): { lines: string[]; write(line: string): void } {
  const lines: string[] = [];
  return { lines, write: (line) => void lines.push(line) };
}

it('passes every failpoint at once and writes nothing when MEDIC_FAILPOINTS is unset or empty', async () => {
  for (const spec of [undefined, '', ' , ']) {
    const err = stderr();
    const failpoint = failpointsFrom(spec, err);
    for (const name of Object.keys(FAILPOINTS) as Array<keyof typeof FAILPOINTS>)
      expect(await settlesNow(failpoint(name))).toBe(true);
    expect(err.lines).toEqual([]);
  }
});

it('stops at an armed failpoint for good, writing exactly one line, and passes the others', async () => {
  const err = stderr();
  const failpoint = failpointsFrom(' admission.after_start ,fleet.after_claim', err);
  expect(await settlesNow(failpoint('admission.after_ledger_admit'))).toBe(true);
  expect(err.lines).toEqual([]);
  expect(await settlesNow(failpoint('admission.after_start'))).toBe(false);
  expect(err.lines).toEqual(['medic failpoint admission.after_start reached\n']);
  expect(await settlesNow(failpoint('fleet.after_claim'))).toBe(false);
  expect(err.lines).toEqual(['medic failpoint admission.after_start reached\n', 'medic failpoint fleet.after_claim reached\n']);
});

it('names an unknown failpoint on stderr once, with the known ones, and arms the rest', async () => {
  const err = stderr();
  const failpoint = failpointsFrom('admission.after_admit,fleet.after_claim', err);
  expect(err.lines).toEqual([
    'medic failpoint: "admission.after_admit" in MEDIC_FAILPOINTS is not a failpoint ' +
      '(known: admission.after_ledger_admit, admission.after_start, fleet.after_claim)\n',
  ]);
  expect(await settlesNow(failpoint('admission.after_ledger_admit'))).toBe(true);
  expect(await settlesNow(failpoint('fleet.after_claim'))).toBe(false);
});
