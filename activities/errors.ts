// Errors activities throw on purpose. Temporal records an error's `name` as its failure type;
// workflows/activity-options.ts lists the ones that retrying cannot fix, so they fail at once.

/** The command is not in worker.hcl `allowed_commands` (deny by default). */
export class CommandNotAllowedError extends Error {
  override name = 'CommandNotAllowedError';
}

/** A systemd unit name that systemctl could read as an option or a pattern. */
export class InvalidUnitError extends Error {
  override name = 'InvalidUnitError';
}

/** A cleanup path outside worker.hcl `cleanup_paths`, or one that escapes it through "..". */
export class PathNotAllowedError extends Error {
  override name = 'PathNotAllowedError';
}

/** A request an activity cannot act on as given: a bad URL, pattern or duration. */
export class InvalidRequestError extends Error {
  override name = 'InvalidRequestError';
}

/** The activity needs worker.hcl configuration this worker does not have (a hook, Prometheus). */
export class NotConfiguredError extends Error {
  override name = 'NotConfiguredError';
}

/** Prometheus answered with an error or could not be reached; worth retrying. */
export class PrometheusQueryError extends Error {
  override name = 'PrometheusQueryError';
}

/** A drain/undrain/notify hook ran but failed (non-zero exit, non-2xx answer); worth retrying. */
export class HookFailedError extends Error {
  override name = 'HookFailedError';
}

/** The errors that retrying cannot fix. */
export const PERMANENT_ERRORS = [
  CommandNotAllowedError,
  InvalidUnitError,
  PathNotAllowedError,
  InvalidRequestError,
  NotConfiguredError,
] as const;
