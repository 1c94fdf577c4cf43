import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAppHarness } from '../../test/support/appHarness.js';
import { createAgentKey } from '../service/operatorAuth.js';

type Harness = Awaited<ReturnType<typeof createAppHarness>>;
type ToolResult = {
  isError?: boolean;
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
};

let h: Harness;
let baseUrl: string;
const clients: Client[] = [];

beforeEach(async () => {
  h = await createAppHarness({ progressIntervalMs: 100 });
  baseUrl = await h.listen();
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => undefined);
  await h.close();
});

async function connect(era: 'legacy' | 'modern', key = h.agent.key): Promise<Client> {
  const client = new Client(
    { name: 'loopgate-test', version: '1.0.0' },
    era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {},
  );
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${key}` } },
  });
  await client.connect(transport);
  clients.push(client);
  return client;
}

const call = (
  client: Client,
  name: string,
  args: Record<string, unknown>,
  options?: Parameters<Client['callTool']>[1],
) => client.callTool({ name, arguments: args }, options) as Promise<ToolResult>;

const text = (result: ToolResult) => result.content.map((c) => c.text ?? '').join('\n');

for (const era of ['legacy', 'modern'] as const) {
  describe(`MCP tools over streamable HTTP (${era === 'legacy' ? '2025-11-25' : '2026-07-28'})`, () => {
    it('negotiates the revision it asked for', async () => {
      const client = await connect(era);
      expect(client.getNegotiatedProtocolVersion()).toBe(
        era === 'legacy' ? '2025-11-25' : '2026-07-28',
      );
    });

    it('requests an approval, waits, and gets the decision the moment a human makes it', async () => {
      const client = await connect(era);
      const created = await call(client, 'request_approval', {
        action_description: 'Delete the staging database',
        action_details: { database: 'staging' },
      });
      expect(created.isError).toBeFalsy();
      const { pause_id, status, approval_url, next_step } = created.structuredContent as Record<
        string,
        string
      >;
      expect(status).toBe('pending');
      expect(approval_url).toBe(`http://127.0.0.1:7878/approvals/${pause_id}`);
      expect(next_step).toMatch(/wait_for_approval/);

      const waiting = call(client, 'wait_for_approval', { pause_id, max_wait_seconds: 20 });
      await new Promise((r) => setTimeout(r, 100));
      const decidedAt = Date.now();
      await h.service.decide(pause_id!, {
        decision: 'approved',
        comment: 'go',
        responder: 'admin',
        channel: 'web',
      });
      const result = await waiting;
      expect(Date.now() - decidedAt).toBeLessThan(1_000);
      expect(result.isError).toBeFalsy();
      expect(text(result)).toMatch(/APPROVED by admin/);
      const view = result.structuredContent as {
        status: string;
        response: { decision: string };
        receipt: string;
      };
      expect(view.status).toBe('responded');
      expect(view.response.decision).toBe('approved');

      const verified = await call(client, 'verify_receipt', { result: view });
      expect(verified.isError).toBeFalsy();
      expect(verified.structuredContent).toMatchObject({
        valid: true,
        decision: 'approved',
        pause_id,
      });

      const tampered = { ...view, response: { ...view.response, decision: 'rejected' } };
      const refused = await call(client, 'verify_receipt', { result: tampered });
      expect(refused.isError).toBe(true);
      expect(text(refused)).toMatch(/INVALID receipt \(E_RECEIPT_MISMATCH\)/);
    });

    it('reports a rejection as an error result that says not to act', async () => {
      const client = await connect(era);
      const created = await call(client, 'request_approval', {
        action_description: 'Email all customers',
        action_details: {},
      });
      const { pause_id } = created.structuredContent as { pause_id: string };
      await h.service.decide(pause_id, {
        decision: 'rejected',
        comment: 'not today',
        responder: 'admin',
        channel: 'web',
      });
      const result = await call(client, 'wait_for_approval', { pause_id });
      expect(result.isError).toBe(true);
      expect(text(result)).toMatch(/REJECTED by admin.*not today.*Do not perform the action/s);
      const checked = await call(client, 'check_approval', { pause_id });
      expect(checked.structuredContent).toMatchObject({
        status: 'responded',
        response: { decision: 'rejected' },
      });
    });
  });
}

describe('MCP tools: waiting, progress, cancellation and refusals', () => {
  it('returns pending after max_wait_seconds, with progress notifications while it waits', async () => {
    const client = await connect('legacy');
    const { pause_id } = (
      await call(client, 'request_approval', { action_description: 'x', action_details: {} })
    ).structuredContent as { pause_id: string };
    const progress: number[] = [];
    const result = await call(
      client,
      'wait_for_approval',
      { pause_id, max_wait_seconds: 0.6 },
      {
        onprogress: (p) => progress.push(p.progress),
      },
    );
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ status: 'pending' });
    expect(text(result)).toMatch(/call wait_for_approval again/i);
    expect(progress.length).toBeGreaterThanOrEqual(2);
  });

  for (const era of ['legacy', 'modern'] as const) {
    it(`stops waiting on the server when the client cancels the call (${era})`, async () => {
      const client = await connect(era);
      const { pause_id } = (
        await call(client, 'request_approval', { action_description: 'x', action_details: {} })
      ).structuredContent as { pause_id: string };
      const controller = new AbortController();
      const waiting = call(
        client,
        'wait_for_approval',
        { pause_id, max_wait_seconds: 30 },
        { signal: controller.signal },
      );
      await expect.poll(() => h.service.activeWaits).toBe(1);
      controller.abort();
      await expect(waiting).rejects.toThrow();
      await expect.poll(() => h.service.activeWaits).toBe(0);
    });
  }

  it('cancels a request, after which it reads expired and cannot be approved', async () => {
    const client = await connect('modern');
    const { pause_id } = (
      await call(client, 'request_approval', { action_description: 'x', action_details: {} })
    ).structuredContent as { pause_id: string };
    const cancelled = await call(client, 'cancel_approval', { pause_id });
    expect(cancelled.structuredContent).toMatchObject({ status: 'expired' });
    await expect(
      h.service.decide(pause_id, { decision: 'approved', responder: 'admin', channel: 'web' }),
    ).rejects.toMatchObject({
      code: 'E_APPROVAL_ALREADY_DECIDED',
    });
    const waited = await call(client, 'wait_for_approval', { pause_id });
    expect(waited.isError).toBe(true);
    expect(text(waited)).toMatch(/CANCELLED/);
  });

  it('accepts LoopPause numbers and booleans in action_details and returns them as sent', async () => {
    const client = await connect('legacy');
    const created = await call(client, 'request_approval', {
      action_description: 'Pay invoice 2291',
      action_details: { amount: 12450, urgent: true, currency: 'EUR' },
    });
    expect(created.isError).toBeFalsy();
    const { pause_id } = created.structuredContent as { pause_id: string };
    const checked = await call(client, 'check_approval', { pause_id });
    expect(checked.structuredContent?.['action_details']).toStrictEqual({
      amount: 12450,
      urgent: true,
      currency: 'EUR',
    });
    const response = await h.request(`/v1/approvals/${pause_id}`, {
      headers: { authorization: `Bearer ${h.agent.key}` },
    });
    const view = (await response.json()) as { action_details: unknown };
    expect(view.action_details).toStrictEqual({ amount: 12450, urgent: true, currency: 'EUR' });
  });

  it('creates nothing from malformed input and says which field is wrong', async () => {
    const client = await connect('legacy');
    let message = '';
    try {
      const result = await call(client, 'request_approval', {
        action_description: 'x',
        action_details: { n: { nested: 5 } },
      });
      expect(result.isError).toBe(true);
      message = text(result);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/action_details/);
    expect(await h.store.listApprovals({ limit: 5 })).toEqual([]);
  });

  it('says when a pause_id is unknown, and hides other agents’ requests', async () => {
    const client = await connect('legacy');
    const { pause_id } = (
      await call(client, 'request_approval', { action_description: 'x', action_details: {} })
    ).structuredContent as { pause_id: string };
    const unknown = await call(client, 'check_approval', { pause_id: 'pa_nope' });
    expect(unknown.isError).toBe(true);
    expect(text(unknown)).toMatch(/E_APPROVAL_NOT_FOUND/);
    const other = await createAgentKey(h.store, 'other-agent', Date.now());
    const otherClient = await connect('legacy', other.key);
    const hidden = await call(otherClient, 'check_approval', { pause_id });
    expect(hidden.isError).toBe(true);
    expect(text(hidden)).toMatch(/E_APPROVAL_NOT_FOUND/);
    const cancel = await call(otherClient, 'cancel_approval', { pause_id });
    expect(cancel.isError).toBe(true);
    expect((await h.service.getApproval(pause_id)).status).toBe('pending');
  });
});
