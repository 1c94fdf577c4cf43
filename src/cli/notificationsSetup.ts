import type { Hono } from 'hono';
import type { Notifier } from '../channels/notifier.js';
import type { NotifiableApproval } from '../channels/notifiableApproval.js';
import { SlackClient } from '../channels/slack/slackClient.js';
import { SlackNotifier, isSlackRecipient } from '../channels/slack/slackNotifier.js';
import type { Config } from '../config/configSchema.js';
import type { ApprovalView } from '../core/approvalView.js';
import { LoopgateError } from '../core/errors.js';
import type { AppEnv } from '../http/appEnv.js';
import { createDeliveryRoutes } from '../http/deliveryRoutes.js';
import { createEmailConfirmRoutes } from '../http/emailConfirmRoutes.js';
import { createNotificationPages } from '../http/notificationPages.js';
import { createSlackRoutes } from '../http/slackRoutes.js';
import type { Store } from '../store/store.js';
import type { ApprovalService } from '../service/approvalService.js';
import { NotificationRouter, type RouterLogger } from '../service/notificationRouter.js';
import { WebhookOutbox } from '../service/webhookOutbox.js';

/** The settings the notification channels read (all from `configSchema`). */
export type NotificationsConfig = Pick<
  Config,
  | 'slackBotToken'
  | 'slackSigningSecret'
  | 'slackApiUrl'
  | 'smtpUrl'
  | 'emailFrom'
  | 'fallbackAfterMinutes'
  | 'reminderBeforeMinutes'
  | 'escalationSlack'
  | 'escalationEmail'
  | 'escalateAfterMinutes'
  | 'agentNotificationsPerHour'
>;

/** What {@link startNotifications} wires together. */
export interface StartNotificationsDeps {
  store: Store;
  service: ApprovalService;
  /** The server's public URL (no trailing slash): confirm links and the inbox URL. */
  publicUrl: string;
  logger: RouterLogger;
  /** Clock in ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Don't start the timers (tests call `router.sweep()` and `outbox.runDue()` themselves). */
  manualTimers?: boolean;
}

/** The running notification channels and the routes to mount. */
export interface RunningNotifications {
  router: NotificationRouter;
  outbox: WebhookOutbox;
  /** Present when `slackBotToken` is set. */
  slackClient: SlackClient | null;
  /** Mount under `/v1` (`AppDeps.extraApiRoutes`). */
  apiRoutes: Hono<AppEnv>[];
  /** Mount at `/` (`AppDeps.extraRoutes`): `/email/confirm`, `/deliveries`. */
  pageRoutes: Hono<AppEnv>[];
  /** Which channels are on, for the start-up banner. */
  channels: { slack: boolean; slackActions: boolean; email: boolean };
  close(): Promise<void>;
}

/** True when the request's gate needs more than a click: Slack then links to the approval page. */
function gateNeedsPage(approval: NotifiableApproval): boolean {
  const gate = (approval as Partial<ApprovalView>).gate;
  return gate !== undefined && gate.type !== 'approve';
}

/**
 * Builds the notification channels from the configuration and starts routing: Slack when
 * `slackBotToken` is set (its interactivity endpoint when `slackSigningSecret` is), email when
 * `smtpUrl` is (nodemailer is loaded only then; `emailFrom` is required with it), and webhooks
 * always (endpoints are added with `loopgate webhooks add` at any time; pending retries left by
 * an earlier run are picked up). Returns the routes for `createApp`.
 *
 * @throws LoopgateError E_CONFIG_INVALID for a missing `emailFrom` or a malformed escalation
 *   recipient; E_EMAIL_SMTP_URL_INVALID, E_EMAIL_ADDRESS_INVALID from the email sender.
 */
export async function startNotifications(
  config: NotificationsConfig,
  deps: StartNotificationsDeps,
): Promise<RunningNotifications> {
  const now = deps.now ?? Date.now;
  const { store, service } = deps;
  const publicUrl = deps.publicUrl.replace(/\/$/, '');
  if (config.escalationSlack !== undefined && !isSlackRecipient(config.escalationSlack)) {
    throw new LoopgateError(
      'E_CONFIG_INVALID',
      `LOOPGATE_ESCALATION_SLACK must be a #channel or a Slack id like U012ABC; got "${config.escalationSlack}".`,
    );
  }

  let slackClient: SlackClient | null = null;
  let slack: Notifier | undefined;
  if (config.slackBotToken) {
    slackClient = new SlackClient({
      token: config.slackBotToken,
      ...(config.slackApiUrl ? { baseUrl: config.slackApiUrl } : {}),
    });
    slack = new SlackNotifier({
      client: slackClient,
      gateNeedsPage,
      slackUserIdOf: async (responder) => {
        const operator = await store.getOperatorByName(responder);
        return (operator && (await store.getOperatorContact(operator.id, 'slack'))) ?? undefined;
      },
      now,
    });
  }

  let email: Notifier | undefined;
  let closeEmail = () => undefined as void;
  if (config.smtpUrl) {
    if (!config.emailFrom) {
      throw new LoopgateError(
        'E_CONFIG_INVALID',
        'LOOPGATE_SMTP_URL is set but LOOPGATE_EMAIL_FROM is not: set the From address of approval mail (--email-from).',
      );
    }
    const [{ createEmailSender, isEmailAddress }, { EmailNotifier }] = await Promise.all([
      import('../channels/email/createEmailSender.js'),
      import('../channels/email/emailNotifier.js'),
    ]);
    if (config.escalationEmail !== undefined && !isEmailAddress(config.escalationEmail)) {
      throw new LoopgateError(
        'E_CONFIG_INVALID',
        `LOOPGATE_ESCALATION_EMAIL must be one plain address; got "${config.escalationEmail}".`,
      );
    }
    const sender = createEmailSender({ smtpUrl: config.smtpUrl, from: config.emailFrom });
    closeEmail = () => sender.close();
    email = new EmailNotifier({
      sender,
      confirmUrlFor: (token) => `${publicUrl}/email/confirm?token=${encodeURIComponent(token)}`,
      storeConfirmToken: (record) =>
        store.createEmailConfirmToken({
          tokenHash: record.tokenHash,
          pauseId: record.pauseId,
          recipient: record.recipient,
          createdAt: now(),
          expiresAt: Date.parse(record.expiresAt),
          usedAt: null,
        }),
    });
  }

  const outbox = new WebhookOutbox({ store, now });
  const escalation =
    config.escalationSlack || config.escalationEmail
      ? {
          ...(config.escalationSlack ? { slack: config.escalationSlack } : {}),
          ...(config.escalationEmail ? { email: config.escalationEmail } : {}),
          afterMs: config.escalateAfterMinutes * 60_000,
        }
      : undefined;
  const router = new NotificationRouter({
    service,
    store,
    ...(slack ? { slack } : {}),
    ...(email ? { email } : {}),
    webhooks: outbox,
    inboxUrl: `${publicUrl}/`,
    fallbackAfterMs: config.fallbackAfterMinutes * 60_000,
    reminderBeforeMs: config.reminderBeforeMinutes * 60_000,
    ...(escalation ? { escalation } : {}),
    agentBudget: { limit: config.agentNotificationsPerHour },
    now,
    logger: deps.logger,
  });

  const apiRoutes: Hono<AppEnv>[] = [
    createDeliveryRoutes(store),
    createEmailConfirmRoutes({ store, service, now }),
  ];
  if (config.slackSigningSecret) {
    apiRoutes.push(
      createSlackRoutes({
        store,
        service,
        client:
          slackClient ??
          new SlackClient({
            token: '',
            ...(config.slackApiUrl ? { baseUrl: config.slackApiUrl } : {}),
          }),
        signingSecret: config.slackSigningSecret,
        now,
      }),
    );
  }

  router.start({ timers: deps.manualTimers !== true });
  if (!deps.manualTimers) {
    outbox.start();
    void router.sweep();
  }
  return {
    router,
    outbox,
    slackClient,
    apiRoutes,
    pageRoutes: [createNotificationPages()],
    channels: {
      slack: slack !== undefined,
      slackActions: config.slackSigningSecret !== undefined,
      email: email !== undefined,
    },
    async close() {
      await router.stop();
      await outbox.stop();
      closeEmail();
    },
  };
}
