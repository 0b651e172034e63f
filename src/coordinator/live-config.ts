// The part of the configuration a running coordinator can swap on reload (SIGHUP): route
// rules and workflows. Readers take `current` once per request; a swap replaces it whole.
import type { CoordinatorConfig } from '../config/coordinator';
import type { WorkflowConfig } from '../config/workflow';
import { compileAcl, type Acl } from './acl';

export interface LiveState {
  coordinator: CoordinatorConfig;
  acl: Acl;
  workflows: ReadonlyMap<string, WorkflowConfig>;
  loadedAt: Date;
}

export class LiveConfig {
  private state: LiveState;

  constructor(coordinator: CoordinatorConfig, workflows: ReadonlyMap<string, WorkflowConfig>) {
    this.state = LiveConfig.build(coordinator, workflows);
  }

  /** Builds the whole state first (so a failure leaves the current one in place). */
  static build(coordinator: CoordinatorConfig, workflows: ReadonlyMap<string, WorkflowConfig>): LiveState {
    return { coordinator, acl: compileAcl(coordinator.routeRules), workflows: new Map(workflows), loadedAt: new Date() };
  }

  get current(): LiveState {
    return this.state;
  }

  swap(next: LiveState): void {
    this.state = next;
  }
}
