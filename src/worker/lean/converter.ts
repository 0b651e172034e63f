// Payloads and failures of the lean worker through the same converters the SDK worker uses:
// @temporalio/common's JSON payload converter and failure converter, and medic's AES codec when
// temporal.payload_key_file is set, in both directions.
import { ApplicationFailure, CancelledFailure, ensureApplicationFailure, type Payload } from '@temporalio/common';
import {
  decodeArrayFromPayloads,
  decodeFromPayloadsAtIndex,
  encodeErrorToFailure,
  encodeToPayload,
  encodeToPayloads,
} from '@temporalio/common/lib/internal-non-workflow/codec-helpers';
import { loadDataConverter } from '@temporalio/common/lib/internal-non-workflow/data-converter-helpers';
import type { ProtoFailure } from '@temporalio/common';
import { medicDataConverter } from '../../temporal/data-converter';

export interface Payloads {
  payloads?: Payload[] | null;
}

export type LeanConverter = ReturnType<typeof leanConverter>;

/** The converter of one worker: `payloadKeyFile` is read once, here (a bad key stops the start). */
export function leanConverter(payloadKeyFile: string | undefined) {
  const dc = loadDataConverter(medicDataConverter(payloadKeyFile));
  return {
    /** The activity's arguments. */
    args: (input: Payloads | undefined): Promise<unknown[]> => decodeArrayFromPayloads(dc, input?.payloads ?? undefined),
    /** The first heartbeat detail of a previous attempt (Info.heartbeatDetails). */
    heartbeatDetails: (details: Payloads | undefined): Promise<unknown> =>
      decodeFromPayloadsAtIndex(dc, 0, details?.payloads ?? undefined),
    result: async (value: unknown): Promise<Payloads> => ({ payloads: [await encodeToPayload(dc, value)] }),
    details: async (value: unknown): Promise<Payloads | undefined> => {
      const payloads = await encodeToPayloads(dc, value);
      return payloads ? { payloads } : undefined;
    },
    /** An activity's error as the SDK worker reports it: an ApplicationFailure (type = the error's name) unless it is one. */
    failure: (err: unknown): Promise<ProtoFailure> => encodeErrorToFailure(dc, ensureApplicationFailure(err)),
    /** A cancellation the server asked for (RespondActivityTaskCanceled's details come from it). */
    cancelled: async (err: CancelledFailure): Promise<ProtoFailure> => {
      const failure = await encodeErrorToFailure(dc, err);
      failure.stackTrace = undefined;
      return failure;
    },
  };
}

export { ApplicationFailure, CancelledFailure };
