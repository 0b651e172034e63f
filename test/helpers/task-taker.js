// A process that takes one task of a task queue and never answers it: SIGKILLed after "took",
// it leaves Temporal what a worker killed while running that task leaves (the task started, its
// poller gone). Usage: node task-taker.js ADDRESS NAMESPACE TASK_QUEUE workflow|activity
const { Connection } = require('@temporalio/client');

const [address, namespace, taskQueue, kind] = process.argv.slice(2);

(async () => {
  const connection = await Connection.connect({ address });
  const request = { namespace, taskQueue: { name: taskQueue, kind: 1 }, identity: `task-taker-${process.pid}` };
  const service = connection.workflowService;
  process.stdout.write('polling\n');
  for (;;) {
    // A long poll: the server answers empty after a minute, and it is asked again.
    const task = await connection.withDeadline(Date.now() + 90_000, () =>
      kind === 'workflow' ? service.pollWorkflowTaskQueue(request) : service.pollActivityTaskQueue(request),
    );
    if (task.taskToken && task.taskToken.length > 0) {
      process.stdout.write(
        `took ${task.workflowExecution.workflowId} ${task.activityType ? task.activityType.name : 'workflow task'}\n`,
      );
      // Holds it until killed (a pending promise alone would let the process end).
      setInterval(() => {}, 60_000);
      return;
    }
  }
})().catch((err) => {
  process.stderr.write(`task-taker: ${err.message}\n`);
  process.exit(1);
});
