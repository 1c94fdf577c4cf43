import { isEmailAddress } from '../channels/email/createEmailSender.js';
import { createWebhookSecret } from '../channels/webhooks/signWebhook.js';
import { assertWebhookUrl } from '../channels/webhooks/deliverWebhook.js';
import { LoopgateError } from '../core/errors.js';
import { createId } from '../core/ids.js';
import { webhookEventTypes } from '../service/webhookOutbox.js';
import type { Store } from '../store/store.js';

/** Where a command writes: stdout for results, stderr for what a human reads. */
export interface CommandOutput {
  out(line: string): void;
  err(line: string): void;
}

const slackUserId = /^[UW][A-Z0-9]{2,40}$/;

/**
 * `loopgate operators link-slack NAME U…` and `loopgate operators link-email NAME ADDRESS`:
 * lets that Slack user's button clicks, or that address's confirm links, decide as the
 * operator. One Slack user and one address per operator; linking again replaces the link.
 * @throws LoopgateError E_CLI_USAGE (malformed id or address), E_OPERATOR_NOT_FOUND
 */
export async function linkOperatorContact(
  store: Store,
  kind: 'slack' | 'email',
  name: string | undefined,
  value: string | undefined,
  io: CommandOutput,
): Promise<void> {
  const usage =
    kind === 'slack'
      ? 'operators link-slack NAME U012ABCDEF'
      : 'operators link-email NAME bob@example.com';
  if (!name || !value) throw new LoopgateError('E_CLI_USAGE', `Use \`${usage}\`.`);
  if (kind === 'slack' && !slackUserId.test(value)) {
    throw new LoopgateError(
      'E_CLI_USAGE',
      `A Slack user id starts with U or W, e.g. U012ABCDEF (Slack: profile → ⋮ → Copy member ID); got "${value}".`,
    );
  }
  if (kind === 'email' && !isEmailAddress(value)) {
    throw new LoopgateError(
      'E_CLI_USAGE',
      `Expected one plain address like bob@example.com; got "${value}".`,
    );
  }
  const operator = await store.getOperatorByName(name);
  if (!operator)
    throw new LoopgateError(
      'E_OPERATOR_NOT_FOUND',
      `No operator is named "${name}"; see \`loopgate operators list\`.`,
    );
  const normalized = kind === 'email' ? value.toLowerCase() : value;
  const now = Date.now();
  await store.linkOperatorContact({ operatorId: operator.id, kind, value: normalized, now });
  await store.appendAudit(
    {
      type: `operator.linked_${kind}`,
      requestId: null,
      actor: 'cli',
      data: { name, [kind]: normalized },
    },
    now,
  );
  io.err(
    kind === 'slack'
      ? `Linked Slack user ${normalized} to ${name}: their Approve / Reject clicks now decide as ${name}.`
      : `Linked ${normalized} to ${name}: confirm links mailed to this address now decide as ${name}.`,
  );
}

/**
 * `loopgate webhooks add URL [--events a,b]`, `webhooks list`, `webhooks remove ID`. `add`
 * prints the endpoint id and its `whsec_…` secret (shown once) for the receiver to verify the
 * Standard Webhooks signature with.
 * @throws LoopgateError E_CLI_USAGE, E_WEBHOOK_URL_INVALID, E_WEBHOOK_EVENTS_INVALID,
 *   E_WEBHOOK_NOT_FOUND
 */
export async function commandWebhooks(
  store: Store,
  positionals: string[],
  events: string | undefined,
  io: CommandOutput,
): Promise<void> {
  const [, sub, arg] = positionals;
  if (sub === 'add') {
    if (!arg)
      throw new LoopgateError(
        'E_CLI_USAGE',
        'webhooks add needs the receiver URL: `webhooks add https://example.com/hook --events request.decided`.',
      );
    const url = assertWebhookUrl(arg).href;
    const chosen =
      events === undefined
        ? [...webhookEventTypes]
        : events
            .split(',')
            .map((e) => e.trim())
            .filter((e) => e !== '');
    const unknown = chosen.filter((e) => !(webhookEventTypes as readonly string[]).includes(e));
    if (chosen.length === 0 || unknown.length > 0) {
      throw new LoopgateError(
        'E_WEBHOOK_EVENTS_INVALID',
        `--events takes a comma-separated list of ${webhookEventTypes.join(', ')}; got "${events ?? ''}".`,
      );
    }
    const id = createId('wh', 12);
    const secret = createWebhookSecret();
    const now = Date.now();
    await store.createWebhookEndpoint({
      id,
      url,
      secret,
      events: [...new Set(chosen)],
      createdAt: now,
      disabledAt: null,
    });
    await store.appendAudit(
      { type: 'webhook.added', requestId: null, actor: 'cli', data: { id, url, events: chosen } },
      now,
    );
    io.out(`${id}\t${secret}`);
    io.err(
      `Added webhook ${id} → ${url} for ${chosen.join(', ')}. The secret is shown once: give it to the receiver to verify webhook-signature (Standard Webhooks).`,
    );
  } else if (sub === 'list') {
    const endpoints = await store.listWebhookEndpoints();
    if (endpoints.length === 0)
      io.err(
        'No webhooks. Add one with `loopgate webhooks add URL --events request.created,request.decided,request.expired`.',
      );
    for (const e of endpoints) {
      const state =
        e.disabledAt === null
          ? 'active'
          : `disabled ${new Date(e.disabledAt).toISOString()} (410 Gone)`;
      io.out(`${e.id}\t${e.url}\t${e.events.join(',')}\t${state}`);
    }
  } else if (sub === 'remove') {
    if (!arg)
      throw new LoopgateError(
        'E_CLI_USAGE',
        'webhooks remove needs the webhook id (see `loopgate webhooks list`).',
      );
    if (!(await store.removeWebhookEndpoint(arg))) {
      throw new LoopgateError(
        'E_WEBHOOK_NOT_FOUND',
        `No webhook has id "${arg}"; see \`loopgate webhooks list\`.`,
      );
    }
    await store.appendAudit(
      { type: 'webhook.removed', requestId: null, actor: 'cli', data: { id: arg } },
      Date.now(),
    );
    io.err(`Removed webhook ${arg}; nothing more is sent to it.`);
  } else {
    throw new LoopgateError(
      'E_CLI_USAGE',
      'Use `webhooks add URL [--events a,b]`, `webhooks list` or `webhooks remove ID`.',
    );
  }
}
