// Failpoints: named moments where a test stops a real process (MEDIC_FAILPOINTS) to SIGKILL it there; no-ops otherwise.
//
// MEDIC_FAILPOINTS is for tests only: a comma-separated list of the names below, read once when
// the process starts. An armed failpoint writes `medic failpoint <name> reached` to stderr and
// never resolves, so the code after it never runs; the test waits for that line and kills the
// process with SIGKILL, which is what a crash at that moment leaves behind.

/** Every failpoint, with the moment it stands for. */
export const FAILPOINTS = {
  /** The workflow's admission ledger recorded the admission; its execution is not started. */
  'admission.after_ledger_admit': 'the ledger recorded the admission, the execution is not started',
  /** The execution started; the caller has no answer and nothing else is confirmed. */
  'admission.after_start': 'the execution started, the caller has no answer yet',
  /** The fleet ledger holds the node and the budget places; the execution is not started. */
  'fleet.after_claim': 'the node and budget places are held, the execution is not started',
} as const;

export type FailpointName = keyof typeof FAILPOINTS;

export const FAILPOINTS_ENV = 'MEDIC_FAILPOINTS';

const passed: Promise<void> = Promise.resolve();

/**
 * The failpoint function for a MEDIC_FAILPOINTS value: names not in FAILPOINTS are reported on
 * `stderr` once (a typo would otherwise leave a test waiting for a line that never comes).
 */
export function failpointsFrom(
  spec: string | undefined,
  stderr: { write(line: string): unknown },
): (name: FailpointName) => Promise<void> {
  const armed = new Set<string>();
  for (const name of (spec ?? '').split(',').map((s) => s.trim())) {
    if (!name) continue;
    if (name in FAILPOINTS) armed.add(name);
    else
      stderr.write(
        `medic failpoint: ${JSON.stringify(name)} in ${FAILPOINTS_ENV} is not a failpoint (known: ${Object.keys(FAILPOINTS).join(', ')})\n`,
      );
  }
  if (armed.size === 0) return () => passed;
  return (name) => {
    if (!armed.has(name)) return passed;
    stderr.write(`medic failpoint ${name} reached\n`);
    return new Promise<void>(() => {});
  };
}

/** Stops here for good when MEDIC_FAILPOINTS names `name`; resolves at once otherwise. */
export const failpoint = failpointsFrom(process.env[FAILPOINTS_ENV], process.stderr);
