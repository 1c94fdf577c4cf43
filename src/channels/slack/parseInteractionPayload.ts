import { createHash } from 'node:crypto';
import type { Validation } from '../../core/errors.js';
import {
  SLACK_ACTION_APPROVE,
  SLACK_ACTION_OPEN_INBOX,
  SLACK_ACTION_OPEN_PAGE,
  SLACK_ACTION_REJECT,
} from './slackBlocks.js';

/** What a button click asks for. `open_*` are link buttons: acknowledge them, decide nothing. */
export type SlackInteractionAction = 'approve' | 'reject' | 'open_page' | 'open_inbox';

/** The parts of a `block_actions` interaction payload loopgate acts on. */
export interface SlackInteraction {
  action: SlackInteractionAction;
  /** The button's `value`: the pause_id; `null` for `open_inbox`. */
  pauseId: string | null;
  /** Slack user id of the person who clicked (`U…`/`W…`); map it to an operator before deciding. */
  userId: string;
  /** Slack workspace id (`T…`), when present. */
  teamId: string | null;
  /** Where the click came from, for chat.update / chat.postEphemeral. */
  channelId: string | null;
  /** `ts` of the message the button is on. */
  messageTs: string | null;
  /** Slack's `response_url` for this interaction (https), when present. */
  responseUrl: string | null;
  /**
   * A stable id for this delivery, `sha256:<hex>` of the payload JSON text: the same payload
   * delivered twice (a replay) has the same id, so record it and process each id once.
   */
  payloadId: string;
}

const ACTIONS: Readonly<Record<string, SlackInteractionAction>> = {
  [SLACK_ACTION_APPROVE]: 'approve',
  [SLACK_ACTION_REJECT]: 'reject',
  [SLACK_ACTION_OPEN_PAGE]: 'open_page',
  [SLACK_ACTION_OPEN_INBOX]: 'open_inbox',
};

const SLACK_USER_ID = /^[UW][A-Z0-9]{2,40}$/;
const SLACK_ID = /^[A-Z][A-Z0-9]{2,40}$/;
const SLACK_TS = /^\d{1,12}\.\d{1,12}$/;
const PAUSE_ID = /^[A-Za-z0-9_-]{1,128}$/;

function refuse(message: string): Validation<SlackInteraction> {
  return { ok: false, code: 'E_SLACK_PAYLOAD_INVALID', message };
}

function record(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

function stringField(obj: Record<string, unknown> | null, key: string): string | null {
  const v = obj?.[key];
  return typeof v === 'string' ? v : null;
}

/**
 * Parses the body Slack POSTs to the interactivity endpoint: `application/x-www-form-urlencoded`
 * with one `payload` field holding JSON (https://api.slack.com/interactivity/handling#payloads).
 * Only `type: "block_actions"` with one of loopgate's buttons is accepted. Verify the signature
 * with `verifySlackSignature` over the same raw body first; this function trusts nothing and
 * checks every id's shape.
 *
 * @param rawBody the request body exactly as received.
 * @returns the interaction, or `E_SLACK_PAYLOAD_INVALID` saying which part is wrong.
 */
export function parseInteractionPayload(rawBody: string): Validation<SlackInteraction> {
  const payloadText = new URLSearchParams(rawBody).get('payload');
  if (payloadText === null || payloadText === '') {
    return refuse('Expected a form-encoded body with a "payload" field.');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(payloadText);
  } catch (err) {
    return refuse(`The payload field is not JSON: ${(err as Error).message}`);
  }
  const payload = record(parsed);
  if (payload === null) return refuse('The payload is not a JSON object.');
  const type = stringField(payload, 'type');
  if (type !== 'block_actions') {
    return refuse(`Expected a payload of type "block_actions", got ${JSON.stringify(type)}.`);
  }

  const user = record(payload['user']);
  const userId = stringField(user, 'id');
  if (userId === null || !SLACK_USER_ID.test(userId)) {
    return refuse('payload.user.id is missing or not a Slack user id (U… or W…).');
  }

  const actions = payload['actions'];
  if (!Array.isArray(actions) || actions.length !== 1) {
    return refuse('Expected exactly one entry in payload.actions.');
  }
  const first = record(actions[0]);
  const actionId = stringField(first, 'action_id') ?? '';
  const action = Object.hasOwn(ACTIONS, actionId) ? ACTIONS[actionId] : undefined;
  if (action === undefined) {
    return refuse(`Unknown action_id ${JSON.stringify(actionId.slice(0, 64))}.`);
  }
  const value = stringField(first, 'value');
  let pauseId: string | null = null;
  if (action !== 'open_inbox') {
    if (value === null || !PAUSE_ID.test(value)) {
      return refuse('The button value is missing or is not a pause_id.');
    }
    pauseId = value;
  }

  const team = record(payload['team']);
  const teamId = stringField(team, 'id') ?? stringField(user, 'team_id');
  const container = record(payload['container']);
  const channel = record(payload['channel']);
  const channelId = stringField(container, 'channel_id') ?? stringField(channel, 'id');
  const messageTs =
    stringField(container, 'message_ts') ?? stringField(record(payload['message']), 'ts');
  const responseUrl = stringField(payload, 'response_url');

  if (teamId !== null && !SLACK_ID.test(teamId)) return refuse('payload.team.id is malformed.');
  if (channelId !== null && !SLACK_ID.test(channelId)) {
    return refuse('The channel id of the interaction is malformed.');
  }
  if (messageTs !== null && !SLACK_TS.test(messageTs)) {
    return refuse('The message ts of the interaction is malformed.');
  }
  if (responseUrl !== null && !responseUrl.startsWith('https://')) {
    return refuse('payload.response_url is not an https URL.');
  }

  return {
    ok: true,
    value: {
      action,
      pauseId,
      userId,
      teamId,
      channelId,
      messageTs,
      responseUrl,
      payloadId: 'sha256:' + createHash('sha256').update(payloadText, 'utf8').digest('hex'),
    },
  };
}
