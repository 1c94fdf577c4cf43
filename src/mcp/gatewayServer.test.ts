import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { InMemoryTransport, McpServer } from '@modelcontextprotocol/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { GateSpec } from '../core/approval.js';
import { computeActionHash } from '../core/actionHash.js';
import type { ApprovalView } from '../core/approvalView.js';
import { signReceipt } from '../crypto/receipt.js';
import {
  buildJwks,
  loadOrCreateReceiptKey,
  type ReceiptSigningKey,
} from '../crypto/signingKeys.js';
import { parsePolicy } from '../gates/policyParse.js';
import { recordToolResults } from '../../test/support/toolResultRecorder.js';
import type { ApprovalsClient } from './approvalsClient.js';
import type { GatewayBackend } from './gatewayBackend.js';
import { createGatewayServer, DownstreamToolList, listDownstreamTools } from './gatewayServer.js';

let dir: string;
let key: ReceiptSigningKey;
const forwarded: string[] = [];
const clients: Client[] = [];
/** Every client's tool results, checked against the declared outputSchemas after each test. */
const strict: ReturnType<typeof recordToolResults>[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loopgate-gateway-'));
  key = await loadOrCreateReceiptKey(dir);
  forwarded.length = 0;
});
afterEach(async () => {
  for (const recorder of strict.splice(0)) expect(await recorder.violations()).toEqual([]);
  for (const client of clients.splice(0)) await client.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

async function connected(server: McpServer): Promise<Client> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'test', version: '1.0.0' });
  await client.connect(clientSide);
  clients.push(client);
  strict.push(recordToolResults(client, clientSide));
  return client;
}

/** A backend that hands back an approved view whose receipt was signed under `signedGate`. */
function backendReturning(signedGate: GateSpec | undefined): GatewayBackend {
  return {
    requestToolApproval: () => Promise.reject(new Error('not expected')),
    useToolGrant: () => Promise.resolve(null),
    async consumeToolApproval(call) {
      const actionHash = computeActionHash({ tool: call.tool, arguments: call.arguments });
      const receipt = await signReceipt(
        {
          pause_id: 'pa_planted',
          action_hash: actionHash,
          decision: 'approved',
          comment: '',
          fields: {},
          responder: 'admin',
          responded_at: new Date().toISOString(),
          channel: 'web',
          nonce: '00',
          expires_at: new Date(Date.now() + 60_000).toISOString(),
          ...(signedGate ? { gate: signedGate } : {}),
        },
        key,
      );
      // The view claims the policy's gate; only the signed receipt tells the truth.
      return {
        pause_id: 'pa_planted',
        action_hash: actionHash,
        gate: { type: call.gate.type },
        receipt,
      } as unknown as ApprovalView;
    },
    verifyOtpArgument: () => Promise.resolve(),
    recordForwarded: () => Promise.resolve(),
    recordShadow: () => Promise.reject(new Error('not expected')),
    identifyAgent: () => Promise.resolve({ name: 'local', keyId: null }),
  };
}

async function gatewayWith(backend: GatewayBackend): Promise<Client> {
  const downstreamServer = new McpServer({ name: 'bank', version: '1.0.0' });
  downstreamServer.registerTool(
    'transfer',
    { inputSchema: z.object({ amount: z.number() }) },
    ({ amount }) => {
      forwarded.push(`transfer ${amount}`);
      return { content: [{ type: 'text', text: `sent ${amount}` }] };
    },
  );
  const downstream = await connected(downstreamServer);
  const parsed = parsePolicy(
    'default: none\nrules:\n  - {tool: transfer, gate: totp}\n',
    'policy.yaml',
  );
  if (!parsed.ok) throw new Error(parsed.message);
  const approvals = {
    getJwks: () => Promise.resolve(buildJwks([key])),
  } as unknown as ApprovalsClient;
  const server = createGatewayServer({
    downstream,
    tools: new DownstreamToolList(await listDownstreamTools(downstream)),
    policy: parsed.value,
    backend,
    approvals,
  });
  return connected(server);
}

type ToolResult = { isError?: boolean; content: { type: string; text?: string }[] };

describe('the proxy checks the gate its policy names in the approval’s signed receipt', () => {
  it('refuses an approval whose receipt was signed under another gate, or under none', async () => {
    for (const signedGate of [{ type: 'approve' } as GateSpec, undefined]) {
      const client = await gatewayWith(backendReturning(signedGate));
      const result = (await client.callTool({
        name: 'transfer',
        arguments: { amount: 5000 },
      })) as ToolResult;
      expect(result.isError).toBe(true);
      expect(result.content[0]?.text).toMatch(/^E_GATEWAY_GATE_MISMATCH: .*policy asks for "totp"/);
    }
    expect(forwarded).toEqual([]);
  });

  it('forwards once the receipt names the policy’s gate', async () => {
    const client = await gatewayWith(backendReturning({ type: 'totp' }));
    const result = (await client.callTool({
      name: 'transfer',
      arguments: { amount: 5000 },
    })) as ToolResult;
    expect(result.isError).toBeFalsy();
    expect(forwarded).toEqual(['transfer 5000']);
  });
});

describe('shadow mode in the gateway', () => {
  async function shadowGateway(
    policyText: string,
    recordShadow: GatewayBackend['recordShadow'],
  ): Promise<Client> {
    const downstreamServer = new McpServer({ name: 'bank', version: '1.0.0' });
    downstreamServer.registerTool(
      'transfer',
      { inputSchema: z.object({ amount: z.number() }) },
      ({ amount }) => {
        forwarded.push(`transfer ${amount}`);
        return { content: [{ type: 'text', text: `sent ${amount}` }] };
      },
    );
    const downstream = await connected(downstreamServer);
    const parsed = parsePolicy(policyText, 'policy.yaml');
    if (!parsed.ok) throw new Error(parsed.message);
    const backend: GatewayBackend = {
      ...backendReturning(undefined),
      requestToolApproval: () => Promise.reject(new Error('a shadow rule asks no one')),
      consumeToolApproval: () => Promise.reject(new Error('a shadow rule consumes nothing')),
      recordShadow,
    };
    const server = createGatewayServer({
      downstream,
      tools: new DownstreamToolList(await listDownstreamTools(downstream)),
      policy: parsed.value,
      backend,
      approvals: {} as ApprovalsClient,
    });
    return connected(server);
  }

  it('forwards the call and records what the gate would have asked, with the rule', async () => {
    const recorded: unknown[] = [];
    const client = await shadowGateway(
      'default: none\nrules:\n  - {tool: transfer, gate: otp_argument, mode: shadow}\n',
      (call) => {
        recorded.push(call);
        return Promise.resolve();
      },
    );
    // A shadow otp_argument rule does not ask the agent for a code.
    const { tools } = await client.listTools();
    expect(tools.find((t) => t.name === 'transfer')?.inputSchema.properties).not.toHaveProperty(
      'otp',
    );
    const result = (await client.callTool({
      name: 'transfer',
      arguments: { amount: 5 },
    })) as ToolResult;
    expect(result.content[0]?.text).toBe('sent 5');
    expect(recorded).toEqual([
      {
        tool: 'transfer',
        arguments: { amount: 5 },
        gate: 'otp_argument',
        rule: 'policy.yaml:3 (rule 1)',
      },
    ]);
  });

  it('still forwards when the record cannot be written', async () => {
    const client = await shadowGateway('default: approve\nmode: shadow\n', () =>
      Promise.reject(new Error('server down')),
    );
    const result = (await client.callTool({
      name: 'transfer',
      arguments: { amount: 7 },
    })) as ToolResult;
    expect(result.content[0]?.text).toBe('sent 7');
    expect(forwarded).toEqual(['transfer 7']);
  });
});
