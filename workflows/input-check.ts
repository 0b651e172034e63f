// The worker's re-check of every workflow's params against the schema the coordinator sent with them,
// before the workflow runs a single step (defence in depth): one workflow interceptor, bundled with every workflow.
import {
  ApplicationFailure,
  type Next,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
} from '@temporalio/workflow';
import { checkParams } from '../src/params/resolve';
import type { WorkflowInput } from './shared/input';
import { INVALID_INPUT } from './params';

class ParamCheck implements WorkflowInboundCallsInterceptor {
  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const arg = input.args[0] as Partial<WorkflowInput> | undefined;
    // Inputs without a schema come from outside the coordinator (tests, replays); their workflows read them strictly.
    if (arg && typeof arg === 'object' && arg.paramSchema && typeof arg.paramSchema === 'object') {
      const params = arg.params && typeof arg.params === 'object' ? arg.params : {};
      const problems = checkParams(arg.paramSchema, params);
      if (problems.length) {
        const messages = problems.map((p) => p.message);
        throw ApplicationFailure.nonRetryable(`invalid input: ${messages.join('; ')}`, INVALID_INPUT, messages);
      }
    }
    return next(input);
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [new ParamCheck()] });
