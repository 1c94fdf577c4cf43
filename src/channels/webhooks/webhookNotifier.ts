import createDebug from 'debug';
import type { NotifiableApproval } from '../notifiableApproval.js';
import type { NotificationDelivery, Notifier } from '../notifier.js';
import type { WebhookEndpoint, WebhookEvent, WebhookEventType } from './deliverWebhook.js';
import { createWebhookMessageId } from './signWebhook.js';
import { WebhookDispatcher } from './webhookDispatcher.js';

const debug = createDebug('loopgate:channels');

/** Options for {@link WebhookNotifier}. */
export interface WebhookNotifierOptions {
  dispatcher: WebhookDispatcher;
  /** Looks up an endpoint by id; `undefined` when it was removed (then nothing is sent). */
  findEndpoint: (id: string) => WebhookEndpoint | undefined | Promise<WebhookEndpoint | undefined>;
  /** Clock in ms since the epoch, for the event timestamp. Default `Date.now`. */
  now?: () => number;
}

/**
 * The `data` of an approval event: the request's public state, never secrets. `response`
 * carries the decision, who made it and where, when there is one.
 */
export function buildApprovalEventData(approval: NotifiableApproval): Record<string, unknown> {
  return {
    pause_id: approval.pause_id,
    status: approval.status,
    action_description: approval.action_description,
    action_details: approval.action_details,
    expires_at: approval.expires_at,
    approval_url: approval.approval_url,
    ...(approval.response
      ? {
          response: {
            decision: approval.response.decision,
            comment: approval.response.comment ?? '',
            responder: approval.response.responder,
            responded_at: approval.response.responded_at,
            channel: approval.response.channel,
          },
        }
      : {}),
  };
}

/** Builds a `request.*` event for an approval, with a fresh `msg_…` id. */
export function createApprovalWebhookEvent(
  type: WebhookEventType,
  approval: NotifiableApproval,
  now: number,
): WebhookEvent {
  return {
    id: createWebhookMessageId(),
    type,
    timestamp: new Date(now).toISOString(),
    data: buildApprovalEventData(approval),
  };
}

/**
 * The webhook {@link Notifier}: the recipient is an endpoint id. `notifyCreated` sends
 * `request.created`; `notifyDecided` sends `request.decided` (status `responded`) or
 * `request.expired` (timed out or cancelled); reminders and digests are for humans and send
 * nothing. Only subscribed event types go out. Delivery failures never throw: they are retried
 * by the {@link WebhookDispatcher} and reported through its `onAttempt`.
 * `NotificationDelivery.ref` is the `webhook-id` sent, or `''` when nothing was sent.
 *
 * @throws LoopgateError `E_WEBHOOK_URL_INVALID` / `E_WEBHOOK_SECRET_INVALID` for a
 *   misconfigured endpoint.
 */
export class WebhookNotifier implements Notifier {
  readonly channel = 'webhook' as const;
  readonly #dispatcher: WebhookDispatcher;
  readonly #findEndpoint: WebhookNotifierOptions['findEndpoint'];
  readonly #now: () => number;

  constructor(options: WebhookNotifierOptions) {
    this.#dispatcher = options.dispatcher;
    this.#findEndpoint = options.findEndpoint;
    this.#now = options.now ?? Date.now;
  }

  async notifyCreated(
    approval: NotifiableApproval,
    recipient: string,
  ): Promise<NotificationDelivery> {
    const ref = await this.#send('request.created', approval, recipient);
    return { channel: 'webhook', recipient, ref };
  }

  async notifyDecided(approval: NotifiableApproval, delivery: NotificationDelivery): Promise<void> {
    if (approval.status === 'pending') return;
    const type = approval.status === 'responded' ? 'request.decided' : 'request.expired';
    await this.#send(type, approval, delivery.recipient);
  }

  async notifyReminder(): Promise<void> {
    // Reminders are for people; receivers already have request.created.
  }

  async notifyDigest(): Promise<void> {
    // Digests throttle people, not systems.
  }

  async #send(
    type: WebhookEventType,
    approval: NotifiableApproval,
    endpointId: string,
  ): Promise<string> {
    const endpoint = await this.#findEndpoint(endpointId);
    if (endpoint === undefined) {
      debug('webhook endpoint %s is gone; %s not sent', endpointId, type);
      return '';
    }
    if (!WebhookDispatcher.subscribes(endpoint, type)) return '';
    const event = createApprovalWebhookEvent(type, approval, this.#now());
    await this.#dispatcher.dispatch(endpoint, event);
    return event.id;
  }
}
