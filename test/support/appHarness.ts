import { validateToolArguments } from '../../src/mcp/validateToolArguments.js';
import { createGatewayRoutes } from '../../src/http/gatewayRoutes.js';
import { TotpStepUp } from '../../src/service/stepUp.js';
import { createTotpEncryptionKey } from '../../src/gates/totpSecretEncryption.js';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import {
  buildJwks,
  loadOrCreateReceiptKey,
  loadOrCreateSigningSecret,
} from '../../src/crypto/signingKeys.js';
import { createApp } from '../../src/http/createApp.js';
import { buildAllowedOrigins } from '../../src/http/hostOriginGuard.js';
import { createLocalApprovalsClient } from '../../src/mcp/localApprovalsClient.js';
import { createMcpHttpEndpoint } from '../../src/mcp/mcpEndpoints.js';
import { createRequestStateSealer } from '../../src/mcp/requestState.js';
import { createTaskLedger, storeTaskCancellations } from '../../src/mcp/taskLedger.js';
import { ApprovalService } from '../../src/service/approvalService.js';
import {
  createAgentKey,
  createLoginUrl,
  ensureDefaultOperator,
} from '../../src/service/operatorAuth.js';
import { openSqliteStore } from '../../src/store/sqliteStore.js';
import type { SessionSource } from '../../src/core/records.js';

/** The origin the test app believes it is served at. */
export const testOrigin = 'http://127.0.0.1:7878';

/**
 * A real app over a real SQLite store in a temp dir, called with `app.request()` (no port).
 * `clock.now` can be moved forward to expire requests.
 */
export async function createAppHarness(
  options: {
    progressIntervalMs?: number;
    /** Also serve `/v1/gateway/*` (what a remote `loopgate proxy` calls with a gateway key). */
    gatewayRoutes?: boolean;
  } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'loopgate-app-'));
  const store = openSqliteStore(join(dir, 'loopgate.db'));
  const receiptKey = await loadOrCreateReceiptKey(dir);
  const signingSecret = loadOrCreateSigningSecret(dir);
  const jwks = buildJwks([receiptKey]);
  const clock = { now: Date.now() };
  const now = () => clock.now;
  const service = new ApprovalService({
    store,
    receiptKey,
    signingSecret,
    publicUrl: testOrigin,
    validateToolArguments,
    now,
  });
  const allowed = buildAllowedOrigins(testOrigin, 7878, true);
  const mcp = createMcpHttpEndpoint(
    ({ agentId }) =>
      createLocalApprovalsClient({
        service,
        agentId,
        jwks: () => jwks,
        requestState: createRequestStateSealer({
          agentId,
          secret: signingSecret,
          claimOnce: (id, expiresAtMs) =>
            store.claimTask(`mcp-request-state:${id}`, Date.now(), expiresAtMs),
        }),
        tasks: createTaskLedger({
          agentId,
          secret: signingSecret,
          cancellations: storeTaskCancellations(store),
        }),
      }),
    undefined,
    { ...(options.progressIntervalMs ? { progressIntervalMs: options.progressIntervalMs } : {}) },
  );
  const app = createApp({
    store,
    service,
    jwks: () => jwks,
    logger: pino({ level: 'silent' }),
    allowedOrigins: () => allowed,
    mcp,
    now,
    ...(options.gatewayRoutes
      ? {
          extraApiRoutes: [
            createGatewayRoutes({
              service,
              store,
              totp: new TotpStepUp(store, createTotpEncryptionKey(), now),
              now,
            }),
          ],
        }
      : {}),
  });
  const admin = await ensureDefaultOperator(store, clock.now);
  const agent = await createAgentKey(store, 'claude', clock.now);

  /** Calls the app as a browser or agent on this machine would. */
  const request = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
    app.request(path, { ...init, headers: { host: '127.0.0.1:7878', ...init.headers } });

  /**
   * Signs the admin in as the sign-in page does (`POST /v1/login` with a one-time link's token:
   * a plain sign-in link, or an invite / `--enroll` link with `source`);
   * returns the session secret, its `X-Loopgate-Session` header, the CSRF token and the answer.
   */
  async function signIn(source: SessionSource = 'login') {
    const url = new URL(await createLoginUrl(store, admin, testOrigin, clock.now, { source }));
    const response = await request('/v1/login', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        origin: testOrigin,
        'sec-fetch-site': 'same-origin',
      },
      body: JSON.stringify({ token: url.searchParams.get('token') }),
    });
    if (response.status !== 200)
      throw new Error(`sign-in failed: ${response.status} ${await response.clone().text()}`);
    const body = (await response.clone().json()) as { session: string; csrf_token: string };
    return {
      session: body.session,
      headers: { 'x-loopgate-session': body.session },
      csrf: body.csrf_token,
      response,
    };
  }

  /** Creates an approval as the agent; returns its view. */
  async function requestApproval(body: Record<string, unknown> = {}) {
    const response = await request('/v1/approvals', {
      method: 'POST',
      headers: { authorization: `Bearer ${agent.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        action_description: 'Send $420 to ACME',
        action_details: { amount: '420', to: 'ACME' },
        ...body,
      }),
    });
    if (response.status !== 201)
      throw new Error(`create failed: ${response.status} ${await response.text()}`);
    return (await response.json()) as {
      pause_id: string;
      approval_url: string;
      expires_at: string;
      action_hash: string;
    };
  }

  let listening: Server | undefined;
  /** Serves the app on a real loopback port (for real MCP client transports). */
  async function listen(): Promise<string> {
    const server = createAdaptorServer({ fetch: app.fetch }) as Server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    listening = server;
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  return {
    app,
    listen,
    /** The temp data dir (its SQLite database is `loopgate.db`). */
    dataDir: dir,
    store,
    service,
    jwks,
    signingSecret,
    clock,
    admin,
    agent,
    request,
    signIn,
    requestApproval,
    async close() {
      listening?.closeAllConnections();
      await new Promise<void>((resolve) =>
        listening ? listening.close(() => resolve()) : resolve(),
      );
      service.stop();
      await mcp.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
