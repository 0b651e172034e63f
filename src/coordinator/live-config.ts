// The part of the configuration a running coordinator can swap on reload (SIGHUP): route
// rules, workflows, and the chat signing secret (re-read from its file, for rotation). Readers
// take `current` once per request; a swap replaces it whole.
import type { CoordinatorConfig } from '../config/coordinator';
import { readSecretFile, type Secret } from '../config/secret';
import type { WorkflowConfig } from '../config/workflow';
import { compileAcl, type Acl } from './acl';

export interface LiveState {
  coordinator: CoordinatorConfig;
  acl: Acl;
  workflows: ReadonlyMap<string, WorkflowConfig>;
  /** The Slack signing secret, when coordinator.hcl has a chat { } block. */
  chatSecret?: Secret;
  /** The Slack incoming-webhook URL approval requests are posted to (chat.approvals_webhook_url_file). */
  approvalsWebhook?: Secret;
  loadedAt: Date;
}

export class LiveConfig {
  private state: LiveState;

  constructor(coordinator: CoordinatorConfig, workflows: ReadonlyMap<string, WorkflowConfig>) {
    this.state = LiveConfig.build(coordinator, workflows);
  }

  /**
   * Builds the whole state first (so a failure leaves the current one in place). Throws
   * SecretFileError when the chat signing secret cannot be read.
   */
  static build(coordinator: CoordinatorConfig, workflows: ReadonlyMap<string, WorkflowConfig>): LiveState {
    const secretFile = coordinator.chat?.signingSecretFile;
    const webhookFile = coordinator.chat?.approvalsWebhookUrlFile;
    return {
      coordinator,
      acl: compileAcl(coordinator.routeRules),
      workflows: new Map(workflows),
      ...(secretFile ? { chatSecret: readSecretFile(secretFile, 'chat.slack_signing_secret_file') } : {}),
      ...(webhookFile ? { approvalsWebhook: readSecretFile(webhookFile, 'chat.approvals_webhook_url_file') } : {}),
      loadedAt: new Date(),
    };
  }

  get current(): LiveState {
    return this.state;
  }

  swap(next: LiveState): void {
    this.state = next;
  }
}
