// The notifications module as the platform wires it: FHIR R4 Subscriptions (rest-hook, websocket), user
// notifications (Communication + e-mail/SMS outbox) and escalation: write hooks, job handlers, the websocket server.
import type { Server } from 'node:http';
import type { CapabilityStatement } from '@medplum/fhirtypes';
import type { Config } from '../config/config.js';
import type { Logger } from '../kernel/logger.js';
import type { Principal } from '../kernel/principal.js';
import type { SearchRegistry } from '../fhir/search-registry.js';
import type { JobHandler } from '../jobs/job-runner.js';
import type { Storage } from '../store/resource-store.js';
import type { AfterWrite, PrepareWrite, ResourceService, WriteGuard } from '../workflow/resource-service.js';
import { createEscalation, ESCALATION_JOB, type EscalationConfig } from './escalation.js';
import { createLogTransport, OUTBOX_JOB, outboxHandler, type MessageTransport } from './outbox.js';
import { createSmtpTransport } from './smtp-transport.js';
import { activationHandler, currentSubscription, createSubscriptionGuard, recordSubscriptionOwner } from './subscription-lifecycle.js';
import { createSubscriptionDelivery } from './subscription-delivery.js';
import {
  CAPABILITY_WEBSOCKET_URL, SUBSCRIPTION_ACTIVATE_JOB, SUBSCRIPTION_DELIVER_JOB, SUBSCRIPTION_MATCH_JOB,
} from './subscription-model.js';
import { NOTIFY_TRIGGERS, userNotificationHandlers } from './user-notifications.js';
import { stepNotifications } from './step-notifications.js';
import { createWebsocketChannel, type WebsocketChannel } from './websocket-channel.js';

/** The notifications part of the platform configuration. */
export function notificationsConfigOf(c: Config): NotificationsConfig {
  return {
    subscriptionSecrets: c.subscriptionSecrets, subscriptionErrorAfter: c.subscriptionErrorAfter, restHookTimeoutMs: c.restHookTimeoutMs,
    smtp: c.smtpUrl ? { url: c.smtpUrl, from: c.smtpFrom, smsGatewayDomain: c.smsEmailGateway } : undefined,
    escalation: { defaultDelaySeconds: c.escalationDelaySeconds, workflows: c.escalation },
  };
}

export interface NotificationsConfig {
  /** HMAC secrets by `Subscription/<id>` or endpoint URL prefix. */
  readonly subscriptionSecrets: Readonly<Record<string, string>>;
  readonly subscriptionErrorAfter: number;
  readonly restHookTimeoutMs: number;
  /** SMTP relay; without it messages go to the log transport. */
  readonly smtp?: { readonly url: string; readonly from: string; readonly smsGatewayDomain?: string };
  readonly escalation: EscalationConfig;
}

/** Job types whose enqueue should wake the job runner at once (notification latency). */
export const NOTIFICATION_JOB_TYPES: ReadonlySet<string> = new Set([
  SUBSCRIPTION_ACTIVATE_JOB, SUBSCRIPTION_MATCH_JOB, SUBSCRIPTION_DELIVER_JOB, OUTBOX_JOB, ...NOTIFY_TRIGGERS,
]);

/** Path of the websocket endpoint on the HTTP server (under the FHIR base). */
export const WEBSOCKET_PATH = '/fhir/websocket';

export interface NotificationsDeps {
  storage: Storage;
  registry: SearchRegistry;
  logger: Logger;
  config: NotificationsConfig;
  /** Transports by channel (default: SMTP when configured, else the log). */
  transports?: { email: MessageTransport; sms: MessageTransport };
}

export interface ConnectDeps {
  svc: ResourceService;
  /** Public FHIR base URL. */
  baseUrl: string;
  server: Server;
  authenticate(authorization: string | undefined): Promise<Principal>;
}

export function createNotifications(deps: NotificationsDeps) {
  const late: { svc?: ResourceService; baseUrl?: string; ws?: WebsocketChannel } = {};
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`notifications: ${what} used before connect()`);
    return v;
  };
  const { storage, registry, logger, config } = deps;
  const log = logger.child({ component: 'notifications' });
  const smtp = config.smtp ? createSmtpTransport(config.smtp) : undefined;
  const transports = deps.transports ?? {
    email: smtp ?? createLogTransport(log),
    sms: smtp && config.smtp?.smsGatewayDomain ? smtp : createLogTransport(log),
  };
  const common = {
    get svc() { return need(late.svc, 'the resource service'); },
    get baseUrl() { return need(late.baseUrl, 'the base URL'); },
    logger: log,
  };
  const delivery = createSubscriptionDelivery({
    ...{ storage, registry, secrets: config.subscriptionSecrets, errorAfter: config.subscriptionErrorAfter, restHookTimeoutMs: config.restHookTimeoutMs },
    get svc() { return common.svc; }, get baseUrl() { return common.baseUrl; }, logger: log, websocket: () => late.ws,
  });
  const escalation = createEscalation({ get svc() { return common.svc; }, get baseUrl() { return common.baseUrl; }, logger: log, config: config.escalation });
  const notify = userNotificationHandlers({ get svc() { return common.svc; }, get baseUrl() { return common.baseUrl; }, logger: log });

  const handlers: Record<string, JobHandler> = {
    [SUBSCRIPTION_ACTIVATE_JOB]: (job) => activationHandler({ svc: common.svc, storage, registry, logger: log })(job),
    ...delivery.handlers,
    ...notify,
    [ESCALATION_JOB]: escalation.handlers[ESCALATION_JOB],
    [OUTBOX_JOB]: outboxHandler(transports),
  };

  return {
    writeGuards: [createSubscriptionGuard()] as WriteGuard[],
    prepareWrite: [recordSubscriptionOwner()] as PrepareWrite[],
    afterWrite: [delivery.afterWrite, escalation.afterWrite, stepNotifications] as AfterWrite[],
    handlers,
    resend: delivery.resend,
    /** Gives the handlers the service and base URL, and serves the websocket channel on the HTTP server. */
    async connect(c: ConnectDeps): Promise<void> {
      late.svc = c.svc;
      late.baseUrl = c.baseUrl;
      late.ws = createWebsocketChannel({
        path: WEBSOCKET_PATH, authenticate: c.authenticate, logger: log,
        readSubscription: (id) => currentSubscription(storage, id),
      });
      late.ws.attach(c.server);
      await delivery.start();
    },
    /** Advertises the websocket URL (R4 capabilitystatement-websocket extension on rest). */
    advertise(cs: CapabilityStatement, baseUrl: string): void {
      const rest = cs.rest?.[0];
      if (!rest) return;
      rest.extension = [...(rest.extension ?? []).filter((e) => e.url !== CAPABILITY_WEBSOCKET_URL),
        { url: CAPABILITY_WEBSOCKET_URL, valueUri: `${baseUrl.replace(/^http/, 'ws')}/websocket` }];
    },
    /** Closes the websocket connections (before the HTTP server closes: upgraded sockets would hold it open). */
    async disconnect(): Promise<void> {
      await late.ws?.close();
    },
    /** Closes the transports (after the last job drain). */
    async close(): Promise<void> {
      await transports.email.close?.();
      if (transports.sms !== transports.email) await transports.sms.close?.();
    },
  };
}

export type Notifications = ReturnType<typeof createNotifications>;
