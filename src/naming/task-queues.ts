// Task-queue names, the contract between coordinator (which starts workflows) and worker
// (which polls). Both call these functions; nothing else builds a queue name.

export type QueueTarget = 'general' | 'node_type' | 'node';
export const QUEUE_TARGETS: readonly QueueTarget[] = ['general', 'node_type', 'node'];

export interface Target {
  node?: string;
  datacenter?: string;
  node_type?: string;
}

// Names become part of queue names and workflow IDs: keep them to DNS-ish characters, and no ':'
// (the separator), so two different targets can never produce the same queue name.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

/** Why `value` cannot be used as a datacenter, node type or node name, or undefined if it can. */
export function invalidName(field: keyof Target, value: string): string | undefined {
  if (!NAME.test(value)) {
    return `${field} ${JSON.stringify(value)} must be 1-253 characters of letters, digits, '.', '_' or '-', starting with a letter or digit`;
  }
  // "medic:node:<x>" is the node queue; a datacenter called "node" would collide with it.
  if (field === 'datacenter' && value === 'node') return 'datacenter may not be called "node" (reserved for node queues)';
  return undefined;
}

/**
 * The queue of the coordinator's admission leases (see src/coordinator/leases.ts). Nothing
 * polls it: a lease is a workflow execution that never runs and ends at its execution timeout.
 * It has no "medic:" prefix, so no datacenter or node name can produce it.
 */
export const ADMISSION_LEASE_QUEUE = 'medic-admission-leases';

/** The queue of the admission ledgers (src/ledger/): every coordinator's ledger worker polls it. */
export const LEDGER_QUEUE = 'medic-admission-ledger';

/**
 * The queue of the ladder activity (workflows/ladder.ts): every coordinator that knows escalation
 * ladders polls it; older ones do not, so a run never waits on a coordinator that cannot answer.
 */
export const LADDER_QUEUE = 'medic-ladder';

/**
 * The queue of approval requests (src/approval/): every coordinator's ledger worker polls it too.
 * Its own queue, not the ledgers': a coordinator of an earlier release polls the ledger queue and
 * does not know the approval workflow type (its worker would fail such a task).
 */
export const APPROVAL_QUEUE = 'medic-approvals';

/**
 * The queue of the audit journal (src/audit/): every coordinator's ledger worker polls it. Its own
 * queue, for the reason the approvals have theirs: earlier coordinators do not know the type.
 */
export const AUDIT_QUEUE = 'medic-audit';

export function generalQueue(datacenter: string): string {
  return `medic:${datacenter}`;
}

export function nodeTypeQueue(datacenter: string, nodeType: string): string {
  return `medic:${datacenter}:${nodeType}`;
}

export function nodeQueue(node: string): string {
  return `medic:node:${node}`;
}

/** The three queues one worker polls, general first. */
export function workerQueues(datacenter: string, nodeType: string, node: string): string[] {
  return [generalQueue(datacenter), nodeTypeQueue(datacenter, nodeType), nodeQueue(node)];
}

export type QueueChoice = { ok: true; queue: string } | { ok: false; missing: Array<keyof Target>; message: string };

/** Which fields of a target each kind of queue needs. */
export const REQUIRED_FIELDS: Record<QueueTarget, Array<keyof Target>> = {
  general: ['datacenter'],
  node_type: ['datacenter', 'node_type'],
  node: ['node'],
};

/** Picks the queue a start lands on, or says which target fields are missing or malformed. */
export function queueFor(kind: QueueTarget, target: Target): QueueChoice {
  const missing = REQUIRED_FIELDS[kind].filter((f) => !target[f]);
  if (missing.length) {
    return {
      ok: false,
      missing,
      message: `task_queue_target "${kind}" needs target.${missing.join(' and target.')}`,
    };
  }
  for (const f of REQUIRED_FIELDS[kind]) {
    const problem = invalidName(f, target[f]!);
    if (problem) return { ok: false, missing: [f], message: `target.${problem}` };
  }
  switch (kind) {
    case 'general':
      return { ok: true, queue: generalQueue(target.datacenter!) };
    case 'node_type':
      return { ok: true, queue: nodeTypeQueue(target.datacenter!, target.node_type!) };
    case 'node':
      return { ok: true, queue: nodeQueue(target.node!) };
  }
}

/**
 * The queue a workflow execution starts on: its datacenter's general queue, where general
 * workers run the workflow off the (possibly sick) machine; only the machine steps go to
 * `activityQueue` (the queue of the config's task_queue_target). A target without a datacenter
 * (a node-only start from an older caller) runs the workflow on `activityQueue` itself, as before:
 * that works where the node's worker has role "both", and such a run cannot outlive its node.
 */
export function workflowQueue(target: Target, activityQueue: string): string {
  return target.datacenter ? generalQueue(target.datacenter) : activityQueue;
}
