import type { NotificationDelivery, Notifier } from '../channels/notifier.js';
import type { ApprovalRecord } from '../core/approval.js';
import type { ApprovalView } from '../core/approvalView.js';
import { LoopgateError, isLoopgateError } from '../core/errors.js';
import { createId } from '../core/ids.js';
import type { NotificationLimit, Store } from '../store/store.js';
import type { NotificationDeliveryRecord } from '../core/records.js';
import type { ApprovalChange, ApprovalService } from './approvalService.js';
import type { WebhookOutbox } from './webhookOutbox.js';

/** Where undecided requests are escalated, and when. */
export interface EscalationGroup {
  /** A Slack `#channel` or user id. */
  slack?: string;
  /** One email address. */
  email?: string;
  /** Time without a decision before the group is told, in ms. */
  afterMs: number;
}

/** A logger with pino's call shape; the router only warns and debugs. */
export interface RouterLogger {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** Options for {@link NotificationRouter}. */
export interface NotificationRouterOptions {
  service: ApprovalService;
  store: Store;
  /** The Slack notifier; Slack is off without it. */
  slack?: Notifier;
  /** The email notifier; email is off without it. */
  email?: Notifier;
  /** Webhook delivery; webhooks are off without it. */
  webhooks?: WebhookOutbox;
  /** Absolute URL of the web inbox, for digests. */
  inboxUrl: string;
  /** Time without a decision after a Slack message before the email fallback, in ms. Default 10 min. */
  fallbackAfterMs?: number;
  /** How long before expiry reminders go out, in ms; 0 turns them off. Default 15 min. */
  reminderBeforeMs?: number;
  escalation?: EscalationGroup;
  /**
   * Notifications (digests included) per approver per sliding window, counted in the store so
   * the limit holds across every server of a deployment and across restarts. Default: 5 per
   * minute (`{limit: 5, windowMs: 60_000}`).
   */
  approverLimit?: Partial<NotificationLimit>;
  /**
   * Mail and Slack messages about one agent's requests, across all recipients, per sliding
   * window (`windowMs`, default one hour); counted in the store, so it holds across restarts.
   * Default: no budget.
   */
  agentBudget?: { limit: number; windowMs?: number };
  /** Clock in ms since the epoch. Default `Date.now`. */
  now?: () => number;
  logger?: RouterLogger;
  /** How often {@link NotificationRouter.start}'s timer runs {@link NotificationRouter.sweep}, in ms. Default 5 000. */
  sweepIntervalMs?: number;
}

/** How often a sweep also forgets task claims that can no longer matter, in ms. */
const claimPurgeIntervalMs = 60_000;
/**
 * How long past its `keepUntil` a task claim is still kept, in ms: servers' clocks differ, and a
 * server whose clock is behind must still find the claim while it thinks the task is live.
 */
const claimPurgeGraceMs = 3_600_000;

type Channel = 'slack' | 'email';
type Kind = 'created' | 'fallback' | 'reminder' | 'escalation';
type Step = 'fallback' | 'reminder' | 'escalation';

const quietLogger: RouterLogger = { warn: () => undefined, debug: () => undefined };

/**
 * Routes approval requests to the people who decide them (issue 5, "Routing and escalation"):
 *
 * - **created**: Slack first (`recipient_slack`), email when there is no Slack recipient or the
 *   Slack message failed; webhooks get `request.created`.
 * - **fallback**: a request still undecided `fallbackAfterMs` after its Slack message is mailed
 *   to `recipient_email`.
 * - **reminders** `reminderBeforeMs` before expiry: a thread reply in Slack, a fresh mail.
 * - **escalation**: after `escalation.afterMs` the escalation group gets the request too.
 * - **over**: decided, timed out, cancelled or voided requests have their Slack messages
 *   updated in place (chat.update) and webhooks get `request.decided` / `request.expired`.
 *
 * Every mail or Slack message about a request first spends one unit of its agent's budget
 * (`agentBudget`, kept in the store): once spent, nothing more goes out about that agent's
 * requests until the window moves on; the delivery is stored as failed with
 * `E_NOTIFY_BUDGET_EXCEEDED` and the request stays in the inbox.
 *
 * Every notification to one approver (a Slack channel or user, an email address) is counted in
 * the store (`Store.admitNotification`): at most 5 a minute across the deployment; the rest are
 * held in the store and merged into one digest ("3 more requests waiting") that points at the
 * inbox and never approves anything. Held requests survive a restart, and each digest is handed
 * to one server only (`Store.takeDueDigests`).
 *
 * Every outcome is stored as a notification delivery (sent with its ref, held for a digest, or
 * failed with the error code), so failures show in the UI; a failure never touches the request,
 * which the web inbox always has. Time-based steps are derived from stored deliveries, so they
 * survive a restart; {@link sweep} runs them (every 5 s after {@link start}, or by hand in tests
 * with an injected clock).
 *
 * With several servers on one database every router sweeps, and each time-based step is
 * claimed in the store (`claimTask`) before it is sent, so it goes out once per deployment (a
 * sweep also purges claims past their `keepUntil`, once a minute); the router hears only changes its own server stored ({@link ApprovalService.subscribeLocal}), so
 * the messages about a new or decided request are sent by the server that stored the change.
 */
export class NotificationRouter {
  readonly #service: ApprovalService;
  readonly #store: Store;
  readonly #notifiers: Partial<Record<Channel, Notifier>>;
  readonly #webhooks: WebhookOutbox | undefined;
  readonly #inboxUrl: string;
  readonly #fallbackAfterMs: number;
  readonly #reminderBeforeMs: number;
  readonly #escalation: EscalationGroup | undefined;
  readonly #limit: NotificationLimit;
  readonly #agentBudget: { limit: number; windowMs: number } | undefined;
  readonly #now: () => number;
  readonly #log: RouterLogger;
  readonly #sweepIntervalMs: number;
  readonly #tasks = new Set<Promise<unknown>>();
  #unsubscribe: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #digestTimer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;
  #timersOn = false;
  #nextClaimPurgeAt = 0;

  constructor(options: NotificationRouterOptions) {
    this.#service = options.service;
    this.#store = options.store;
    this.#notifiers = {
      ...(options.slack ? { slack: options.slack } : {}),
      ...(options.email ? { email: options.email } : {}),
    };
    this.#webhooks = options.webhooks;
    this.#inboxUrl = options.inboxUrl;
    this.#fallbackAfterMs = options.fallbackAfterMs ?? 10 * 60_000;
    this.#reminderBeforeMs = options.reminderBeforeMs ?? 15 * 60_000;
    this.#escalation = options.escalation;
    this.#now = options.now ?? Date.now;
    this.#limit = {
      limit: options.approverLimit?.limit ?? 5,
      windowMs: options.approverLimit?.windowMs ?? 60_000,
    };
    if (!Number.isInteger(this.#limit.limit) || this.#limit.limit < 1) {
      throw new RangeError(
        `approverLimit.limit must be a positive integer, got ${this.#limit.limit}`,
      );
    }
    if (!(this.#limit.windowMs > 0)) {
      throw new RangeError(`approverLimit.windowMs must be > 0, got ${this.#limit.windowMs}`);
    }
    this.#log = options.logger ?? quietLogger;
    this.#agentBudget = options.agentBudget
      ? { limit: options.agentBudget.limit, windowMs: options.agentBudget.windowMs ?? 3_600_000 }
      : undefined;
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 5_000;
  }

  /**
   * Listens to the approval service (changes this server stored) and, unless `timers` is false (tests that drive the clock
   * and call {@link sweep} themselves), starts the sweep and digest timers (unref'd).
   */
  start(options: { timers?: boolean } = {}): void {
    if (this.#unsubscribe) return;
    this.#unsubscribe = this.#service.subscribeLocal((change) =>
      this.#track(this.handleChange(change)),
    );
    this.#timersOn = options.timers !== false;
    if (!this.#timersOn) return;
    this.#timer = setInterval(() => this.#track(this.sweep()), this.#sweepIntervalMs);
    this.#timer.unref();
  }

  /** Stops listening and the timers, and waits for notifications in flight. */
  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#digestTimer) clearTimeout(this.#digestTimer);
    this.#timer = undefined;
    this.#digestTimer = undefined;
    this.#timersOn = false;
    await this.idle();
  }

  /** Resolves once every notification started so far has finished. */
  async idle(): Promise<void> {
    while (this.#tasks.size > 0) await Promise.all([...this.#tasks]);
  }

  /** Reacts to one change of a request. Never throws: failures are stored as deliveries. */
  async handleChange(change: ApprovalChange): Promise<void> {
    try {
      if (change.type === 'created') await this.#onCreated(change.record);
      else if (
        change.type === 'decided' ||
        change.type === 'cancelled' ||
        change.type === 'voided' ||
        change.type === 'timed_out'
      ) {
        await this.#onOver(change.record);
      }
    } catch (err) {
      this.#log.warn({ err, pause_id: change.record.id }, 'notification routing failed');
    }
  }

  /**
   * Runs what is due at this moment: held digests, email fallbacks, reminders and
   * escalations, and (once a minute) forgets task claims past their `keepUntil`. Safe to call
   * at any time; concurrent calls share one run.
   */
  sweep(): Promise<void> {
    this.#sweeping ??= this.#sweepOnce().finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }

  async #sweepOnce(): Promise<void> {
    try {
      await this.#purgeTaskClaims();
      await this.#sendDueDigests();
      const anyRecipientRouting =
        this.#notifiers.slack !== undefined || this.#notifiers.email !== undefined;
      if (!anyRecipientRouting) return;
      const now = this.#now();
      const pending = await this.#service.listApprovals({ status: 'pending', limit: 500 });
      for (const record of pending) {
        if (record.expiresAt <= now) continue;
        if (!record.recipientSlack && !record.recipientEmail && !this.#escalation) continue;
        await this.#runDueSteps(record, now);
      }
    } catch (err) {
      this.#log.warn({ err }, 'notification sweep failed');
    }
  }

  /** Forgets task claims that can no longer matter, at most once per `claimPurgeIntervalMs`. */
  async #purgeTaskClaims(): Promise<void> {
    const now = this.#now();
    if (now < this.#nextClaimPurgeAt) return;
    this.#nextClaimPurgeAt = now + claimPurgeIntervalMs;
    const purged = await this.#store.purgeTaskClaims(now - claimPurgeGraceMs);
    if (purged > 0) this.#log.debug({ purged }, 'expired task claims purged');
  }

  async #runDueSteps(record: ApprovalRecord, now: number): Promise<void> {
    const deliveries = await this.#store.listNotificationDeliveries({
      pauseId: record.id,
      limit: 200,
    });
    const has = (channel: Channel | null, kinds: string[]) =>
      deliveries.some((d) => (channel === null || d.channel === channel) && kinds.includes(d.kind));
    const view = this.#service.view(record);

    // Email fallback: a Slack message (sent, held or failed) and no mail yet.
    const slackAt = deliveries
      .filter((d) => d.channel === 'slack' && d.kind === 'created')
      .map((d) => d.at);
    if (
      record.recipientEmail &&
      this.#notifiers.email &&
      slackAt.length > 0 &&
      !has('email', ['created', 'fallback']) &&
      now - Math.min(...slackAt) >= this.#fallbackAfterMs &&
      (await this.#claim('fallback', record, now))
    ) {
      await this.#notify('email', 'fallback', view, record.recipientEmail);
    }

    // Reminders, once, when the request lives longer than the reminder lead.
    if (
      this.#reminderBeforeMs > 0 &&
      record.expiresAt - record.createdAt > this.#reminderBeforeMs &&
      now >= record.expiresAt - this.#reminderBeforeMs &&
      !has(null, ['reminder']) &&
      (await this.#claim('reminder', record, now))
    ) {
      const slackMessage = deliveries.find(
        (d) => d.channel === 'slack' && d.kind === 'created' && d.status === 'sent' && d.ref,
      );
      if (slackMessage)
        await this.#notify(
          'slack',
          'reminder',
          view,
          slackMessage.recipient,
          toDelivery(slackMessage),
        );
      const mail = deliveries.find(
        (d) =>
          d.channel === 'email' &&
          (d.kind === 'created' || d.kind === 'fallback') &&
          d.status !== 'failed',
      );
      if (mail) await this.#notify('email', 'reminder', view, mail.recipient, toDelivery(mail));
    }

    // Escalation, once.
    const escalation = this.#escalation;
    if (
      escalation &&
      now - record.createdAt >= escalation.afterMs &&
      !has(null, ['escalation']) &&
      (await this.#claim('escalation', record, now))
    ) {
      if (escalation.slack && this.#notifiers.slack)
        await this.#notify('slack', 'escalation', view, escalation.slack);
      if (escalation.email && this.#notifiers.email)
        await this.#notify('email', 'escalation', view, escalation.email);
    }
  }

  /**
   * Takes a time-based step of one request for this server, once per deployment: two servers
   * sweeping at the same moment both see it due, and only the one whose claim the store took
   * sends. A server that dies between claim and send loses that step (the request stays in the
   * inbox); nothing is ever sent twice. The claim is kept until the request expires: after
   * that, no step of it is ever due again.
   */
  #claim(step: Step, record: ApprovalRecord, now: number): Promise<boolean> {
    return this.#store.claimTask(`notify:${step}:${record.id}`, now, record.expiresAt);
  }

  async #onCreated(record: ApprovalRecord): Promise<void> {
    const view = this.#service.view(record);
    const webhook = this.#webhooks?.publish('request.created', view).catch((err: unknown) => {
      this.#log.warn({ err, pause_id: record.id }, 'webhook request.created not stored');
    });
    let slackFailed = false;
    if (record.recipientSlack && this.#notifiers.slack) {
      const outcome = await this.#notify('slack', 'created', view, record.recipientSlack);
      slackFailed = outcome === 'failed';
    }
    if (
      record.recipientEmail &&
      this.#notifiers.email &&
      (!record.recipientSlack || !this.#notifiers.slack || slackFailed)
    ) {
      await this.#notify(
        'email',
        slackFailed ? 'fallback' : 'created',
        view,
        record.recipientEmail,
      );
    }
    await webhook;
  }

  async #onOver(record: ApprovalRecord): Promise<void> {
    await this.#store.discardHeldNotification(record.id);
    const view = this.#service.view(record);
    const type = view.status === 'responded' ? 'request.decided' : 'request.expired';
    const webhook = this.#webhooks?.publish(type, view).catch((err: unknown) => {
      this.#log.warn({ err, pause_id: record.id }, `webhook ${type} not stored`);
    });
    const slack = this.#notifiers.slack;
    if (slack) {
      const messages = await this.#store.listNotificationDeliveries({
        pauseId: record.id,
        limit: 200,
      });
      for (const message of messages) {
        if (message.channel !== 'slack' || message.status !== 'sent' || !message.ref) continue;
        if (message.kind !== 'created' && message.kind !== 'escalation') continue;
        try {
          await slack.notifyDecided(view, toDelivery(message));
        } catch (err) {
          await this.#record({
            pauseId: record.id,
            channel: 'slack',
            kind: 'decided',
            recipient: message.recipient,
            status: 'failed',
            ...errorFields(err),
          });
        }
      }
    }
    await webhook;
  }

  /**
   * Sends one notification, if the approver's limit lets it through now, and stores the outcome.
   * @returns `sent`, `held` (it will be in a digest) or `failed`.
   */
  async #notify(
    channel: Channel,
    kind: Kind,
    view: ApprovalView,
    recipient: string,
    first?: NotificationDelivery,
  ): Promise<'sent' | 'held' | 'failed'> {
    const notifier = this.#notifiers[channel];
    if (!notifier) return 'failed';
    const budget = this.#agentBudget;
    if (
      budget &&
      !(await this.#store.takeAgentNotification(
        view.agent_id,
        this.#now(),
        budget.windowMs,
        budget.limit,
      ))
    ) {
      this.#log.warn(
        { pause_id: view.pause_id, agent_id: view.agent_id, channel, kind },
        'agent notification budget spent; not sent',
      );
      await this.#record({
        pauseId: view.pause_id,
        channel,
        kind,
        recipient,
        status: 'failed',
        errorCode: 'E_NOTIFY_BUDGET_EXCEEDED',
        errorMessage: `Agent "${view.agent_id}" has had ${budget.limit} mail or Slack messages sent in the last ${Math.round(budget.windowMs / 60_000)} minutes (agent-notifications-per-hour); this one was not sent. The request is in the inbox.`,
      });
      return 'failed';
    }
    const admission = await this.#store.admitNotification(
      approverKey(channel, recipient),
      view.pause_id,
      this.#now(),
      this.#limit,
    );
    if (admission.kind === 'held') {
      await this.#record({ pauseId: view.pause_id, channel, kind, recipient, status: 'held' });
      this.#scheduleDigest(admission.dueAt);
      return 'held';
    }
    try {
      let ref: string | null = null;
      if (kind === 'reminder') {
        if (!first)
          throw new LoopgateError(
            'E_APPROVAL_NOT_FOUND',
            `No first ${channel} message of ${view.pause_id} to remind in.`,
          );
        await notifier.notifyReminder(view, first);
      } else {
        ref = (await notifier.notifyCreated(view, recipient)).ref;
      }
      await this.#record({ pauseId: view.pause_id, channel, kind, recipient, status: 'sent', ref });
      return 'sent';
    } catch (err) {
      this.#log.warn(
        { err, pause_id: view.pause_id, channel, kind },
        'notification not delivered; the request stays in the inbox',
      );
      await this.#record({
        pauseId: view.pause_id,
        channel,
        kind,
        recipient,
        status: 'failed',
        ...errorFields(err),
      });
      return 'failed';
    }
  }

  #scheduleDigest(dueAt: number): void {
    if (!this.#timersOn) return; // sweep() sends digests when the clock is driven by hand
    if (this.#digestTimer) clearTimeout(this.#digestTimer);
    this.#digestTimer = setTimeout(
      () => {
        this.#digestTimer = undefined;
        this.#track(this.#sendDueDigests());
      },
      Math.max(0, dueAt - this.#now()) + 10,
    );
    this.#digestTimer.unref();
  }

  async #sendDueDigests(): Promise<void> {
    // Taking a digest removes its held items from the store: with several servers sweeping,
    // each digest is handed to one of them.
    for (const digest of await this.#store.takeDueDigests(this.#now(), this.#limit)) {
      const { channel, recipient } = parseApproverKey(digest.recipient);
      const notifier = this.#notifiers[channel];
      const still: string[] = [];
      for (const id of digest.pauseIds) {
        const record = await this.#store.getApproval(id);
        if (record && record.status === 'pending' && record.expiresAt > this.#now()) still.push(id);
      }
      if (!notifier || still.length === 0) continue;
      let failure: ReturnType<typeof errorFields> | null = null;
      try {
        await notifier.notifyDigest(recipient, { pauseIds: still, inboxUrl: this.#inboxUrl });
      } catch (err) {
        failure = errorFields(err);
        this.#log.warn(
          { err, channel, count: still.length },
          'digest not delivered; the requests stay in the inbox',
        );
      }
      for (const id of still) {
        await this.#record({
          pauseId: id,
          channel,
          kind: 'digest',
          recipient,
          status: failure ? 'failed' : 'sent',
          ...(failure ?? {}),
        });
      }
    }
    const next = await this.#store.nextDigestDueAt(this.#now(), this.#limit);
    if (next !== null) this.#scheduleDigest(next);
  }

  async #record(
    input: Pick<
      NotificationDeliveryRecord,
      'pauseId' | 'channel' | 'kind' | 'recipient' | 'status'
    > &
      Partial<Pick<NotificationDeliveryRecord, 'ref' | 'errorCode' | 'errorMessage'>>,
  ): Promise<void> {
    await this.#store.recordNotificationDelivery({
      id: createId('nd', 12),
      ref: null,
      errorCode: null,
      errorMessage: null,
      ...input,
      at: this.#now(),
    });
  }

  #track(task: Promise<unknown>): void {
    this.#tasks.add(task);
    void task.finally(() => this.#tasks.delete(task));
  }
}

function approverKey(channel: Channel, recipient: string): string {
  return `${channel}:${channel === 'email' ? recipient.toLowerCase() : recipient}`;
}

function parseApproverKey(key: string): { channel: Channel; recipient: string } {
  const at = key.indexOf(':');
  return { channel: key.slice(0, at) as Channel, recipient: key.slice(at + 1) };
}

function toDelivery(record: NotificationDeliveryRecord): NotificationDelivery {
  return { channel: record.channel, recipient: record.recipient, ref: record.ref ?? '' };
}

function errorFields(err: unknown): { errorCode: string; errorMessage: string } {
  if (isLoopgateError(err)) return { errorCode: err.code, errorMessage: err.message };
  return {
    errorCode: 'E_HTTP_INTERNAL',
    errorMessage: err instanceof Error ? err.message : String(err),
  };
}
