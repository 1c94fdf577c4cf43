import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildJwks,
  loadOrCreateReceiptKey,
  loadOrCreateSigningSecret,
} from '../crypto/signingKeys.js';
import { createRelayHub, type RelayHub } from '../handoff/relayHub.js';
import { ApprovalService } from '../service/approvalService.js';
import { createAgentKey, createLoginUrl, ensureDefaultOperator } from '../service/operatorAuth.js';
import { openSqliteStore } from '../store/sqliteStore.js';
import type { Store } from '../store/store.js';
import { createApp } from './createApp.js';
import { createHandoffRoutes } from './handoffRoutes.js';
import { buildAllowedOrigins } from './hostOriginGuard.js';

const origin = 'http://127.0.0.1:7878';
let dir: string;
let store: Store;
let service: ApprovalService;
let relay: RelayHub;
let app: ReturnType<typeof createApp>;
let keyA: string;
let keyB: string;
let operatorSession: string;

const request = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
  app.request(path, { ...init, headers: { host: '127.0.0.1:7878', ...init.headers } });
function agentCall(key: string, path: string, method = 'GET', body?: unknown) {
  return request(path, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

async function errorCode(response: Response): Promise<string> {
  return ((await response.json()) as { error: { code: string } }).error.code;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loopgate-handoff-routes-'));
  store = openSqliteStore(join(dir, 'loopgate.db'));
  const receiptKey = await loadOrCreateReceiptKey(dir);
  const jwks = buildJwks([receiptKey]);
  service = new ApprovalService({
    store,
    receiptKey,
    signingSecret: loadOrCreateSigningSecret(dir),
    publicUrl: origin,
  });
  relay = createRelayHub({ publicUrl: origin });
  const allowed = buildAllowedOrigins(origin, 7878, true);
  app = createApp({
    store,
    service,
    jwks: () => jwks,
    logger: pino({ level: 'silent' }),
    allowedOrigins: () => allowed,
    extraApiRoutes: [createHandoffRoutes(relay)],
  });
  keyA = (await createAgentKey(store, 'agent-a', Date.now())).key;
  keyB = (await createAgentKey(store, 'agent-b', Date.now())).key;
  const admin = await ensureDefaultOperator(store, Date.now());
  const login = new URL(await createLoginUrl(store, admin, origin, Date.now()));
  const signedIn = await request('/v1/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin },
    body: JSON.stringify({ token: login.searchParams.get('token') }),
  });
  operatorSession = ((await signedIn.json()) as { session: string }).session;
});

afterAll(async () => {
  await relay.close();
  service.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('/v1/handoff', () => {
  it('opens a session for an agent key: 201 with the viewer URL and an agent token', async () => {
    const response = await agentCall(keyA, '/v1/handoff', 'POST', {
      service: 'Acme Bank',
      blocker_type: 'otp',
      ttl_seconds: 60,
    });
    expect(response.status).toBe(201);
    const body = (await response.json()) as Record<string, string>;
    expect(body).toMatchObject({
      service: 'Acme Bank',
      status: 'pending',
      viewer_connected: false,
      agent_id: 'agent-a',
    });
    expect(body['viewer_url']).toMatch(new RegExp(`^${origin}/handoff/${body['session_id']}\\?t=`));
    expect(body['agent_token']).toMatch(/^[\w-]{43}$/);
    expect(Date.parse(body['expires_at']!) - Date.parse(body['created_at']!)).toBe(60_000);
  });

  it('refuses anonymous callers (401) and operators (403): sessions belong to agents', async () => {
    const anonymous = await request('/v1/handoff', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"service":"x"}',
    });
    expect(anonymous.status).toBe(401);
    expect(await errorCode(anonymous)).toBe('E_AUTH_REQUIRED');
    const operator = await request('/v1/handoff', {
      method: 'POST',
      headers: { 'x-loopgate-session': operatorSession, 'content-type': 'application/json' },
      body: '{"service":"x"}',
    });
    expect(operator.status).toBe(403);
    expect(await errorCode(operator)).toBe('E_AUTH_FORBIDDEN');
  });

  it.each([
    ['no service', {}],
    ['an unknown field', { service: 'x', cdp_url: 'http://127.0.0.1:9222' }],
    ['an unknown blocker type', { service: 'x', blocker_type: 'fingerprint' }],
    ['a TTL under 5 s', { service: 'x', ttl_seconds: 1 }],
  ])('refuses a body with %s (400 E_HANDOFF_REQUEST_INVALID)', async (_name, body) => {
    const response = await agentCall(keyA, '/v1/handoff', 'POST', body);
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe('E_HANDOFF_REQUEST_INVALID');
  });

  it('shows a session only to its agent (404 for another)', async () => {
    const created = (await (
      await agentCall(keyA, '/v1/handoff', 'POST', { service: 'x' })
    ).json()) as { session_id: string };
    expect((await agentCall(keyA, `/v1/handoff/${created.session_id}`)).status).toBe(200);
    for (const path of ['', '/wait?max_wait_seconds=0']) {
      const other = await agentCall(keyB, `/v1/handoff/${created.session_id}${path}`);
      expect(other.status).toBe(404);
      expect(await errorCode(other)).toBe('E_HANDOFF_NOT_FOUND');
    }
    const cancel = await agentCall(keyB, `/v1/handoff/${created.session_id}/cancel`, 'POST');
    expect(cancel.status).toBe(404);
  });

  it('wait returns the moment the agent side reports the end, and refuses a second end with 409', async () => {
    const created = (await (
      await agentCall(keyA, '/v1/handoff', 'POST', { service: 'x' })
    ).json()) as { session_id: string };
    const started = Date.now();
    const waiting = agentCall(keyA, `/v1/handoff/${created.session_id}/wait?max_wait_seconds=30`);
    await new Promise((r) => setTimeout(r, 100));
    const ended = await agentCall(keyA, `/v1/handoff/${created.session_id}/end`, 'POST', {
      status: 'error',
      detail: 'The browser exited.',
    });
    expect(ended.status).toBe(200);
    const view = (await (await waiting).json()) as Record<string, unknown>;
    expect(view).toMatchObject({ status: 'error', detail: 'The browser exited.' });
    expect(Date.now() - started).toBeLessThan(2_000);
    const again = await agentCall(keyA, `/v1/handoff/${created.session_id}/end`, 'POST', {
      status: 'resolved',
    });
    expect(again.status).toBe(409);
    expect(await errorCode(again)).toBe('E_HANDOFF_ENDED');
    const cancel = await agentCall(keyA, `/v1/handoff/${created.session_id}/cancel`, 'POST');
    expect(cancel.status).toBe(409);
  });

  it('refuses an end status the agent side cannot report, and a bad max_wait_seconds', async () => {
    const created = (await (
      await agentCall(keyA, '/v1/handoff', 'POST', { service: 'x' })
    ).json()) as { session_id: string };
    const timeout = await agentCall(keyA, `/v1/handoff/${created.session_id}/end`, 'POST', {
      status: 'timeout',
    });
    expect(timeout.status).toBe(400);
    expect(await errorCode(timeout)).toBe('E_HANDOFF_REQUEST_INVALID');
    const wait = await agentCall(
      keyA,
      `/v1/handoff/${created.session_id}/wait?max_wait_seconds=soon`,
    );
    expect(wait.status).toBe(400);
    expect(await errorCode(wait)).toBe('E_HANDOFF_REQUEST_INVALID');
    const cancelled = await agentCall(keyA, `/v1/handoff/${created.session_id}/cancel`, 'POST');
    expect(((await cancelled.json()) as { status: string }).status).toBe('cancelled');
  });
});
