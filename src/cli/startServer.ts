import { readFileSync, writeFileSync, unlinkSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAdaptorServer } from '@hono/node-server';
import type { Logger } from 'pino';
import type { Config } from '../config/configSchema.js';
import { assertSafeBind, isLoopbackHost } from '../config/resolveConfig.js';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import {
  buildJwks,
  loadOrCreateReceiptKey,
  loadOrCreateSigningSecret,
  loadOrCreateTotpEncryptionKey,
  type Jwks,
} from '../crypto/signingKeys.js';
import { createLazyWebAuthnService } from '../gates/lazyWebAuthnService.js';
import { relyingPartyFromPublicUrl } from '../gates/webauthnSettings.js';
import { createWebAuthnRoutes } from '../http/webauthnRoutes.js';
import { createGatewayRoutes } from '../http/gatewayRoutes.js';
import { createShadowPages, createShadowRoutes } from '../http/shadowRoutes.js';
import { TotpStepUp } from '../service/stepUp.js';
import { FactorChangeGuard } from '../service/factorChange.js';
import { createApp } from '../http/createApp.js';
import { createRelayHub, type RelayHub } from '../handoff/relayHub.js';
import { createHandoffRoutes } from '../http/handoffRoutes.js';
import { webRoot } from '../http/staticPages.js';
import { buildAllowedOrigins } from '../http/hostOriginGuard.js';
import type { McpEndpoint } from '../http/createApp.js';
import { ApprovalService } from '../service/approvalService.js';
import { GrantService } from '../service/grantService.js';
import { createGrantPages, createGrantRoutes } from '../http/grantRoutes.js';
import { ensureDefaultOperator } from '../service/operatorAuth.js';
import { createRecipientPolicy } from '../service/recipientPolicy.js';
import { explainListenError } from './explainListenError.js';
import { databasePath, readRunningServerUrl, serverInfoFile } from './dataDirFiles.js';
import { openSqliteStore } from '../store/sqliteStore.js';
import type { Store } from '../store/store.js';
import type { RunningNotifications } from './notificationsSetup.js';

/** A running server. */
export interface RunningServer {
  url: string;
  port: number;
  store: Store;
  service: ApprovalService;
  /** Standing grants (turning approvals into grants, using and revoking them). */
  grants: GrantService;
  totp: TotpStepUp;
  jwks: () => Jwks;
  signingSecret: string;
  /** The browser-handoff relay (its WebSockets are attached to this server). */
  relay: RelayHub;
  /** Slack, email and webhook delivery, routing and escalation. */
  notifications: RunningNotifications;
  close(): Promise<void>;
}

export { databasePath, readRunningServerUrl, serverInfoFile };

/**
 * Wires store, keys, service, HTTP app and MCP endpoint together and listens. When the port
 * is taken and `fallbackToAnyPort` is set, listens on any free port instead.
 * @throws LoopgateError E_CONFIG_PUBLIC_BIND; E_SERVER_PORT_IN_USE, E_SERVER_LISTEN_FAILED
 */
export async function startServer(
  config: Config,
  logger: Logger,
  options: { fallbackToAnyPort?: boolean } = {},
): Promise<RunningServer> {
  assertSafeBind(config);
  const dataDir = resolve(config.dataDir);
  const store = openSqliteStore(databasePath(dataDir));
  let recipientPolicy;
  try {
    recipientPolicy = createRecipientPolicy(store, {
      email: config.allowedEmailRecipients,
      slack: config.allowedSlackRecipients,
    });
  } catch (err) {
    await store.close();
    throw err;
  }
  const receiptKey = await loadOrCreateReceiptKey(dataDir);
  const signingSecret = loadOrCreateSigningSecret(dataDir, config.signingSecret);
  const jwks = buildJwks([receiptKey]);
  await ensureDefaultOperator(store, Date.now());

  let handler: (request: Request) => Response | Promise<Response> = () =>
    new Response('starting', { status: 503 });
  const server = createAdaptorServer({ fetch: (request: Request) => handler(request) });
  const listen = (port: number) =>
    new Promise<void>((resolveListen, rejectListen) => {
      const onError = (err: Error) => rejectListen(err);
      server.once('error', onError);
      server.listen(port, config.host, () => {
        server.off('error', onError);
        resolveListen();
      });
    });
  try {
    await listen(config.port);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && options.fallbackToAnyPort) {
      logger.warn(
        { port: config.port },
        `port ${config.port} is in use; listening on a free port instead`,
      );
      await listen(0);
    } else {
      await store.close();
      throw await explainListenError(err as NodeJS.ErrnoException, {
        host: config.host,
        port: config.port,
        dataDir,
        runningUrl: readRunningServerUrl(dataDir),
      });
    }
  }
  const port = (server.address() as AddressInfo).port;
  // Loopback binds are announced as `localhost`: browsers refuse IP addresses as WebAuthn relying
  // party ids, so passkeys only work on a host name.
  const hostForUrl = isLoopbackHost(config.host)
    ? 'localhost'
    : config.host.includes(':')
      ? `[${config.host}]`
      : config.host;
  const url = (config.publicUrl ?? `http://${hostForUrl}:${port}`).replace(/\/$/, '');

  const totp = new TotpStepUp(store, loadOrCreateTotpEncryptionKey(dataDir));
  const webauthn = createLazyWebAuthnService({
    store,
    rpName: 'loopgate',
    ...relyingPartyFromPublicUrl(url),
  });
  const service = new ApprovalService({
    store,
    receiptKey,
    signingSecret,
    publicUrl: url,
    totp,
    webauthn,
    recipientPolicy,
    recheckIntervalMs: config.waitRecheckSeconds * 1_000,
  });
  const grants = new GrantService({ store, approvals: service, receiptKey });
  const factorGuard = new FactorChangeGuard({ store, totp, passkeys: webauthn });
  await service.expireDue();
  service.startExpirySweeper();
  const { startNotifications } = await import('./notificationsSetup.js');
  const notifications = await startNotifications(config, {
    store,
    service,
    publicUrl: url,
    logger,
  });
  // The MCP server SDK is loaded on the first /mcp request, not at start-up.
  let mcpEndpoint: Promise<McpEndpoint & { close(): Promise<void> }> | undefined;
  const loadMcpEndpoint = () =>
    (mcpEndpoint ??= Promise.all([
      import('../mcp/mcpEndpoints.js'),
      import('../mcp/localApprovalsClient.js'),
    ]).then(([{ createMcpHttpEndpoint }, { createLocalApprovalsClient }]) =>
      createMcpHttpEndpoint(
        ({ agentId }) => createLocalApprovalsClient({ service, agentId, jwks: () => jwks }),
        (error) => logger.debug({ err: error }, 'mcp endpoint error'),
      ),
    ));
  const mcp: McpEndpoint = {
    fetch: async (request, agent) => (await loadMcpEndpoint()).fetch(request, agent),
  };
  const allowed = buildAllowedOrigins(url, port, isLoopbackHost(config.host));
  const relay = createRelayHub({
    publicUrl: url,
    checkRequest: (host, origin) =>
      host !== undefined &&
      allowed.hostnames.has(new URL(`http://${host}`).hostname.toLowerCase()) &&
      (origin === undefined || allowed.origins.has(origin)),
    onStatusChange: ({ view, previous, actor }) =>
      void store
        .appendAudit(
          {
            type: previous === null ? 'handoff.created' : `handoff.${view.status}`,
            requestId: view.session_id,
            actor,
            data: { service: view.service, status: view.status },
          },
          Date.now(),
        )
        .catch((error: unknown) => logger.error({ err: error }, 'handoff audit entry not written')),
  });
  server.on('upgrade', (req, socket, head) => {
    if (!relay.handleUpgrade(req, socket, head as Buffer)) socket.destroy();
  });
  const app = createApp({
    store,
    service,
    grants,
    jwks: () => jwks,
    logger,
    allowedOrigins: () => allowed,
    maxBodyBytes: config.maxBodyBytes,
    mcp,
    totp,
    factorGuard,
    extraApiRoutes: [
      createWebAuthnRoutes(webauthn, factorGuard),
      createGatewayRoutes({ service, store, totp, grants }),
      createShadowRoutes(store),
      createGrantRoutes(grants),
      createHandoffRoutes(relay),
      ...notifications.apiRoutes,
    ],
    extraRoutes: [...notifications.pageRoutes, createShadowPages(), createGrantPages()],
    extraAssets: {
      e2ee: fileURLToPath(new URL('../crypto/e2ee/', import.meta.url)),
      viewer: join(webRoot, 'viewer'),
      // @simplewebauthn/browser's UMD bundle, served as /assets/vendor/index.umd.min.js.
      vendor: join(
        dirname(createRequire(import.meta.url).resolve('@simplewebauthn/browser')),
        '..',
        'dist',
        'bundle',
      ),
    },
  });
  handler = (request) => app.fetch(request);

  const infoPath = join(dataDir, serverInfoFile);
  writeFileSync(
    infoPath,
    JSON.stringify({ url, pid: process.pid, startedAt: new Date().toISOString() }),
    { mode: 0o600 },
  );

  return {
    url,
    port,
    store,
    service,
    grants,
    totp,
    jwks: () => jwks,
    signingSecret,
    relay,
    notifications,
    async close() {
      service.stop();
      await notifications.close();
      await relay.close();
      if (mcpEndpoint) await (await mcpEndpoint).close();
      (server as Server).closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
      try {
        const info = JSON.parse(readFileSync(infoPath, 'utf8')) as { pid: number };
        if (info.pid === process.pid) unlinkSync(infoPath);
      } catch {
        // already gone
      }
      await store.close();
    },
  };
}
