// ping: the smallest workflow. It answers with the task queue that ran it, so an operator
// (or rebootNode, or a test) can tell that a queue has a live worker on it.
import { workflowInfo } from '@temporalio/workflow';

export interface PingResult {
  taskQueue: string;
  workflowId: string;
}

export async function ping(): Promise<PingResult> {
  const info = workflowInfo();
  return { taskQueue: info.taskQueue, workflowId: info.workflowId };
}
