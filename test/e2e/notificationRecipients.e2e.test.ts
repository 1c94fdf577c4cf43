import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtpCatcher, type SmtpCatcher } from '../../src/channels/testing/smtpCatcher.js';
import { startServer, type RunningServer } from '../../src/cli/startServer.js';
import { configSchema } from '../../src/config/configSchema.js';
import { createAgentKey } from '../../src/service/operatorAuth.js';

/**
 * An agent tries to use loopgate as a mail relay: request_approval with recipients that are
 * nobody loopgate knows, so the organisation's sender mails the agent's text to outsiders.
 * Only linked operators and what the admin allowed may be notified, and one agent's mail is
 * budgeted across all recipients.
 */

let smtp: SmtpCatcher;
let server: RunningServer;
let dataDir: string;
let agentKey: string;

async function requestApproval(body: Record<string, unknown>) {
  const response = await fetch(`${server.url}/v1/approvals`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${agentKey}` },
    body: JSON.stringify({
      action_description: 'Quarterly report',
      action_details: { note: 'Click here to claim your prize' },
      ...body,
    }),
  });
  return {
    status: response.status,
    body: (await response.json()) as {
      pause_id?: string;
      error?: { code: string; message: string };
    },
  };
}

beforeAll(async () => {
  smtp = await startSmtpCatcher('mailer', 's3cret-pass');
  dataDir = mkdtempSync(join(tmpdir(), 'loopgate-recipients-'));
  const config = configSchema.parse({
    dataDir,
    port: 0,
    logLevel: 'silent',
    smtpUrl: `smtp://mailer:s3cret-pass@127.0.0.1:${smtp.port}`,
    emailFrom: 'Loopgate <approvals@example.com>',
    slackBotToken: 'xoxb-not-used',
    slackApiUrl: 'http://127.0.0.1:9/api',
    allowedEmailRecipients: 'ops@partner.example, @example.com',
    allowedSlackRecipients: 'C0APPROVALS',
    agentNotificationsPerHour: '4',
  });
  server = await startServer(config, pino({ level: 'silent' }));
  const admin = (await server.store.getOperatorByName('admin'))!;
  await server.store.linkOperatorContact({
    operatorId: admin.id,
    kind: 'email',
    value: 'alice@corp.test',
    now: Date.now(),
  });
  await server.store.linkOperatorContact({
    operatorId: admin.id,
    kind: 'slack',
    value: 'U0ALICE',
    now: Date.now(),
  });
  agentKey = (await createAgentKey(server.store, 'claude', Date.now())).key;
});

afterAll(async () => {
  await server?.close();
  await smtp?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('request_approval recipients', () => {
  it('refuses 60 requests to 60 outside addresses and Slack targets before any request exists, and mails nobody', async () => {
    const answers = [];
    for (let i = 0; i < 50; i += 1)
      answers.push(await requestApproval({ recipient_email: `victim${i}@outside.test` }));
    // A look-alike of an allowed domain, and Slack users and channels nobody allowed.
    answers.push(await requestApproval({ recipient_email: 'ceo@example.com.evil.test' }));
    answers.push(await requestApproval({ recipient_email: 'ops@sub.example.com' }));
    for (let i = 0; i < 4; i += 1)
      answers.push(await requestApproval({ recipient_slack: `U0STRANGER${i}` }));
    for (let i = 0; i < 4; i += 1)
      answers.push(await requestApproval({ recipient_slack: `#general-${i}` }));
    expect(answers).toHaveLength(60);
    for (const answer of answers) {
      expect(answer.status).toBe(403);
      expect(answer.body.error?.code).toBe('E_APPROVAL_RECIPIENT_NOT_ALLOWED');
    }
    expect(answers[0]!.body.error?.message).toContain('victim0@outside.test');
    expect(answers[0]!.body.error?.message).toContain('loopgate operators link-email');
    await server.notifications.router.idle();
    expect(await server.service.listApprovals({ limit: 100 })).toEqual([]);
    expect(smtp.mails).toEqual([]);
  });

  it('refuses the same through the MCP request_approval tool', async () => {
    const client = new Client({ name: 'attacker', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${agentKey}` } },
      }),
    );
    try {
      const result = await client.callTool({
        name: 'request_approval',
        arguments: {
          action_description: 'Quarterly report',
          action_details: {},
          recipient_email: 'victim@outside.test',
        },
      });
      expect(result.isError).toBe(true);
      expect(JSON.stringify(result.content)).toContain('E_APPROVAL_RECIPIENT_NOT_ALLOWED');
    } finally {
      await client.close();
    }
    await server.notifications.router.idle();
    expect(await server.service.listApprovals({ limit: 100 })).toEqual([]);
    expect(smtp.mails).toEqual([]);
  });

  it('mails a linked operator, an allowed address and an allowed domain, and stops after the agent’s budget', async () => {
    for (const to of ['alice@corp.test', 'OPS@partner.example', 'bob@example.com']) {
      const answer = await requestApproval({ recipient_email: to });
      expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    }
    await server.notifications.router.idle();
    // One mail each; mails to different people may go out in any order.
    expect(smtp.mails.map((m) => m.rcptTo[0]!.toLowerCase()).sort()).toEqual([
      'alice@corp.test',
      'bob@example.com',
      'ops@partner.example',
    ]);

    // The budget is 4 an hour, across all recipients: the fourth mail goes, the rest do not.
    const more = [];
    for (const to of ['carol@example.com', 'dave@example.com', 'erin@example.com'])
      more.push(await requestApproval({ recipient_email: to }));
    expect(more.map((a) => a.status)).toEqual([201, 201, 201]);
    await server.notifications.router.idle();
    expect(smtp.mails).toHaveLength(4);
    const refused = await server.store.listNotificationDeliveries({ status: 'failed', limit: 10 });
    // Which two of the last three are over the budget depends on which mail went first.
    expect(refused.map((d) => d.errorCode)).toEqual([
      'E_NOTIFY_BUDGET_EXCEEDED',
      'E_NOTIFY_BUDGET_EXCEEDED',
    ]);
    const mailed = smtp.mails.map((m) => m.rcptTo[0]!.toLowerCase());
    expect([...mailed, ...refused.map((d) => d.recipient)].sort()).toEqual([
      'alice@corp.test',
      'bob@example.com',
      'carol@example.com',
      'dave@example.com',
      'erin@example.com',
      'ops@partner.example',
    ]);
    // The requests themselves are in the inbox.
    expect(await server.service.listApprovals({ status: 'pending', limit: 100 })).toHaveLength(6);
  });

  it('accepts a linked operator’s Slack user id and an allowed channel id', async () => {
    expect((await requestApproval({ recipient_slack: 'U0ALICE' })).status).toBe(201);
    expect((await requestApproval({ recipient_slack: 'C0APPROVALS' })).status).toBe(201);
  });

  it('refuses an allow-list entry that is not an address, domain or Slack id at start-up', () => {
    const base = { dataDir, port: 0, logLevel: 'silent' };
    return Promise.all([
      expect(
        startServer(
          configSchema.parse({ ...base, allowedEmailRecipients: 'example.com' }),
          pino({ level: 'silent' }),
        ),
      ).rejects.toMatchObject({
        code: 'E_CONFIG_INVALID',
        message: expect.stringContaining('LOOPGATE_ALLOWED_EMAIL_RECIPIENTS'),
      }),
      expect(
        startServer(
          configSchema.parse({ ...base, allowedSlackRecipients: 'general' }),
          pino({ level: 'silent' }),
        ),
      ).rejects.toMatchObject({
        code: 'E_CONFIG_INVALID',
        message: expect.stringContaining('LOOPGATE_ALLOWED_SLACK_RECIPIENTS'),
      }),
    ]);
  });
});
