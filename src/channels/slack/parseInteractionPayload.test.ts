import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseInteractionPayload } from './parseInteractionPayload.js';
import { verifySlackSignature } from './verifySlackSignature.js';

// The shape Slack sends for a button click in a message
// (https://api.slack.com/reference/interaction-payloads/block-actions-payload).
function blockActions(
  overrides: Record<string, unknown> = {},
  action: Record<string, unknown> = {},
) {
  return {
    type: 'block_actions',
    user: { id: 'U0ALICE1', username: 'alice', team_id: 'T0TEAM01' },
    api_app_id: 'A0APP001',
    token: 'legacy-verification-token',
    container: {
      type: 'message',
      message_ts: '1763632800.000101',
      channel_id: 'C0APPROVALS',
      is_ephemeral: false,
    },
    trigger_id: '1234567890.0987654321.abcdef',
    team: { id: 'T0TEAM01', domain: 'acme' },
    channel: { id: 'C0APPROVALS', name: 'approvals' },
    message: { type: 'message', ts: '1763632800.000101' },
    response_url: 'https://hooks.slack.com/actions/T0TEAM01/1/abc',
    actions: [
      {
        action_id: 'loopgate_approve',
        block_id: 'loopgate_decision',
        text: { type: 'plain_text', text: 'Approve' },
        value: 'pa_7Hq2xKc9',
        type: 'button',
        action_ts: '1763632811.123456',
        ...action,
      },
    ],
    ...overrides,
  };
}

function formBody(payload: unknown): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

describe('parseInteractionPayload', () => {
  it('reads the action, user, pause_id, response_url and message of a signed click', () => {
    const body = formBody(blockActions());
    const secret = 'signing-secret';
    const ts = '1763632812';
    const signature = 'v0=' + createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex');
    expect(
      verifySlackSignature({
        signingSecret: secret,
        timestamp: ts,
        rawBody: body,
        signature,
        now: 1763632812_000,
      }).ok,
    ).toBe(true);

    const result = parseInteractionPayload(body);
    expect(result).toEqual({
      ok: true,
      value: {
        action: 'approve',
        pauseId: 'pa_7Hq2xKc9',
        userId: 'U0ALICE1',
        teamId: 'T0TEAM01',
        channelId: 'C0APPROVALS',
        messageTs: '1763632800.000101',
        responseUrl: 'https://hooks.slack.com/actions/T0TEAM01/1/abc',
        payloadId: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      },
    });
  });

  it('gives a replayed payload the same payloadId and a new click a different one', () => {
    const first = parseInteractionPayload(formBody(blockActions()));
    const replay = parseInteractionPayload(formBody(blockActions()));
    const secondClick = parseInteractionPayload(
      formBody(
        blockActions(
          { trigger_id: '1234567890.0987654321.ffffff' },
          { action_ts: '1763632899.000001' },
        ),
      ),
    );
    if (!first.ok || !replay.ok || !secondClick.ok) throw new Error('expected all to parse');
    expect(replay.value.payloadId).toBe(first.value.payloadId);
    expect(secondClick.value.payloadId).not.toBe(first.value.payloadId);
  });

  it('recognises Reject and the link buttons', () => {
    const reject = parseInteractionPayload(
      formBody(blockActions({}, { action_id: 'loopgate_reject' })),
    );
    expect(reject.ok && reject.value.action).toBe('reject');
    const open = parseInteractionPayload(
      formBody(blockActions({}, { action_id: 'loopgate_open_page' })),
    );
    expect(open.ok && open.value.action).toBe('open_page');
    const inbox = parseInteractionPayload(
      formBody(blockActions({}, { action_id: 'loopgate_open_inbox', value: undefined })),
    );
    expect(inbox.ok && inbox.value).toMatchObject({ action: 'open_inbox', pauseId: null });
  });

  it.each([
    ['no payload field', 'foo=bar'],
    ['payload not JSON', 'payload=%7Bnot-json'],
    ['payload not an object', formBody([1, 2])],
    ['another payload type', formBody(blockActions({ type: 'view_submission' }))],
    ['no user id', formBody(blockActions({ user: {} }))],
    ['a bot id as user', formBody(blockActions({ user: { id: 'B0BOT001' } }))],
    [
      'two actions',
      formBody({
        ...blockActions(),
        actions: [blockActions().actions[0], blockActions().actions[0]],
      }),
    ],
    ['an unknown action_id', formBody(blockActions({}, { action_id: 'approve_all' }))],
    ['a value that is not a pause_id', formBody(blockActions({}, { value: 'pa_1 OR 1=1' }))],
    ['a missing value', formBody(blockActions({}, { value: undefined }))],
    ['an http response_url', formBody(blockActions({ response_url: 'http://hooks.slack.com/x' }))],
    [
      'a malformed channel id',
      formBody(blockActions({ container: { channel_id: 'c0lower', message_ts: '1.2' } })),
    ],
    [
      'a malformed message ts',
      formBody(blockActions({ container: { channel_id: 'C0X', message_ts: 'now' } })),
    ],
  ])('refuses %s with E_SLACK_PAYLOAD_INVALID', (_label, body) => {
    expect(parseInteractionPayload(body)).toMatchObject({
      ok: false,
      code: 'E_SLACK_PAYLOAD_INVALID',
    });
  });
});
