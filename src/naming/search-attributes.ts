// Search attributes every medic start sets, so constraint queries and operators can filter.
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';

export const SEARCH_ATTRIBUTES = {
  workflow: defineSearchAttributeKey('MedicWorkflow', SearchAttributeType.KEYWORD),
  node: defineSearchAttributeKey('MedicNode', SearchAttributeType.KEYWORD),
  datacenter: defineSearchAttributeKey('MedicDatacenter', SearchAttributeType.KEYWORD),
  trigger: defineSearchAttributeKey('MedicTrigger', SearchAttributeType.KEYWORD),
  /** Set by the workflow when it ends: healed, nothing_to_heal, escalated or failed (workflows/outcome.ts). */
  outcome: defineSearchAttributeKey('MedicOutcome', SearchAttributeType.KEYWORD),
  /** The escalation ladder a run belongs to: its first run's workflow id (workflows/ladder.ts). */
  ladder: defineSearchAttributeKey('MedicLadder', SearchAttributeType.KEYWORD),
} as const;

export { OUTCOMES, type Outcome } from './execution-filters';

/** Name -> type, as `temporal server start-dev --search-attribute Name=Type` takes them. */
export const SEARCH_ATTRIBUTE_TYPES: Record<string, 'Keyword'> = Object.fromEntries(
  Object.values(SEARCH_ATTRIBUTES).map((key) => [key.name, 'Keyword' as const]),
);

export interface StartLabels {
  workflow: string;
  node?: string;
  datacenter?: string;
  /** Who or what asked for the start: a SPIFFE ID, "alertmanager", "slack:<user>", a rule name. */
  trigger?: string;
  /** The escalation ladder episode the run is a step of (its first run's workflow id). */
  ladder?: string;
}

/** The search attributes of one start; absent values are left out rather than set empty. */
export function startSearchAttributes(labels: StartLabels): SearchAttributePair[] {
  const pairs: SearchAttributePair[] = [{ key: SEARCH_ATTRIBUTES.workflow, value: labels.workflow }];
  if (labels.node) pairs.push({ key: SEARCH_ATTRIBUTES.node, value: labels.node });
  if (labels.datacenter) pairs.push({ key: SEARCH_ATTRIBUTES.datacenter, value: labels.datacenter });
  if (labels.trigger) pairs.push({ key: SEARCH_ATTRIBUTES.trigger, value: labels.trigger });
  if (labels.ladder) pairs.push({ key: SEARCH_ATTRIBUTES.ladder, value: labels.ladder });
  return pairs;
}

/** Quotes a value for a visibility query: 'it''s' style is not supported, so quotes are refused. */
export function queryValue(v: string): string {
  if (/['"\\]/.test(v)) throw new Error(`value ${JSON.stringify(v)} cannot be used in a visibility query`);
  return `'${v}'`;
}
