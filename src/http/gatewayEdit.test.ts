import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { computeActionHash } from '../core/actionHash.js';
import { createRemoteGatewayBackend, type GatewayBackend } from '../mcp/gatewayBackend.js';
import { createAgentKey } from '../service/operatorAuth.js';
import { createAppHarness } from '../../test/support/appHarness.js';
import { postDecision } from '../../test/support/mcpHarness.js';

const asked = { amount: 500, to: 'ACME' };
const policyText = `default: none
rules:
  - {tool: pay, gate: deny, when: {amount: {gt: 1000}}}
  - {tool: pay, gate: totp, when: {amount: {gt: 600}}}
  - {tool: pay, gate: approve}
`;

let h: Awaited<ReturnType<typeof createAppHarness>>;
let backend: GatewayBackend;
let keyId: string;

beforeEach(async () => {
  h = await createAppHarness({ gatewayRoutes: true });
  const key = await createAgentKey(h.store, 'pay-bot', h.clock.now, 'gateway');
  keyId = key.id;
  // A remote `loopgate proxy`, over HTTP with its gateway key.
  backend = createRemoteGatewayBackend({ serverUrl: await h.listen(), apiKey: key.key });
});
afterEach(async () => h.close());

async function askToPay() {
  return backend.requestToolApproval({
    tool: 'pay',
    arguments: asked,
    gate: { type: 'approve' },
    timeoutMinutes: 10,
    editConstraints: {
      inputSchema: {
        type: 'object',
        properties: { amount: { type: 'number' }, to: { type: 'string' } },
        required: ['amount', 'to'],
        additionalProperties: false,
      },
      policyText,
      policySource: 'policy.yaml',
      agent: { name: 'pay-bot', keyId },
      readOnly: false,
    },
  });
}

async function decide(pauseId: string, body: Record<string, unknown>) {
  const response = await postDecision(h, pauseId, body);
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown> & { error?: { code: string } },
  };
}

describe('edit before approve over /v1/gateway', () => {
  it('binds the approval to the edited call only, which a gateway can use once', async () => {
    const view = await askToPay();
    expect(view).toMatchObject({ editable: true, input_schema: { type: 'object' } });
    const decided = await decide(view.pause_id, {
      decision: 'approved',
      arguments: { amount: 50, to: 'ACME' },
    });
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    const editedHash = computeActionHash({ tool: 'pay', arguments: { amount: 50, to: 'ACME' } });
    expect(decided.body).toMatchObject({
      action_hash: editedHash,
      action_details: { amount: 50, to: 'ACME' },
      edit: {
        original_action_hash: computeActionHash({ tool: 'pay', arguments: asked }),
        original_arguments: asked,
        changes: [{ path: 'amount', from: 500, to: 50 }],
      },
    });
    const audit = await h.store.listAuditEntries(0, 100);
    expect(audit.find((e) => e.type === 'approval.decided')?.data).toMatchObject({
      action_hash: editedHash,
      original_action_hash: computeActionHash({ tool: 'pay', arguments: asked }),
      edited_paths: ['amount'],
    });

    const gate = { type: 'approve' as const };
    expect(await backend.consumeToolApproval({ tool: 'pay', arguments: asked, gate })).toBeNull();
    const edited = { tool: 'pay', arguments: { amount: 50, to: 'ACME' }, gate };
    expect((await backend.consumeToolApproval(edited))?.pause_id).toBe(view.pause_id);
    expect(await backend.consumeToolApproval(edited)).toBeNull();
  });

  it('refuses edits that fail the schema, that the policy denies, with a grant or a rejection, and of free-form requests; nothing is decided', async () => {
    const view = await askToPay();
    const refusals: [Record<string, unknown>, number, string][] = [
      [
        { decision: 'approved', arguments: { amount: 'fifty', to: 'ACME' } },
        400,
        'E_APPROVAL_EDIT_INVALID',
      ],
      [
        { decision: 'approved', arguments: { ...asked, note: 'x' } },
        400,
        'E_APPROVAL_EDIT_INVALID',
      ],
      [
        { decision: 'approved', arguments: { amount: 5000, to: 'ACME' } },
        403,
        'E_APPROVAL_EDIT_DENIED',
      ],
      // The policy asks for an authenticator code for 700; this request is decided with a click.
      [
        { decision: 'approved', arguments: { amount: 700, to: 'ACME' } },
        403,
        'E_APPROVAL_EDIT_DENIED',
      ],
      [
        { decision: 'rejected', arguments: { amount: 50, to: 'ACME' } },
        400,
        'E_APPROVAL_EDIT_INVALID',
      ],
      [
        {
          decision: 'approved',
          arguments: { amount: 50, to: 'ACME' },
          grant: { reach: 'exact', minutes: 5 },
        },
        400,
        'E_APPROVAL_EDIT_INVALID',
      ],
    ];
    for (const [body, status, code] of refusals) {
      const refused = await decide(view.pause_id, body);
      expect(refused.status, JSON.stringify(body)).toBe(status);
      expect(refused.body.error?.code).toBe(code);
    }
    expect((await h.service.getApproval(view.pause_id)).status).toBe('pending');

    const freeForm = await h.requestApproval();
    const refused = await decide(freeForm.pause_id, {
      decision: 'approved',
      arguments: { amount: '1' },
    });
    expect(refused.body.error?.code).toBe('E_APPROVAL_EDIT_INVALID');
    expect((await h.service.getApproval(freeForm.pause_id)).status).toBe('pending');
  });
});
