import { readFileSync, writeFileSync, unlinkSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getRequestListener } from '@hono/node-server';
import type { Logger } from 'pino';
import type { Config } from '../config/configSchema.js';
import { assertSafeBind, isLoopbackHost, resolveInternalUrl } from '../config/resolveConfig.js';
import { createId } from '../core/ids.js';
import { createHandoffForwarder } from '../http/handoffForwarder.js';
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
import { openStore } from './openStore.js';
import { openChangeFeed } from './openChangeFeed.js';
import { assertDeploymentKeys } from './assertDeploymentKeys.js';
import type { PostgresStore } from '../store/postgresStore.js';
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
  /** This server's id in the store's directory of servers (new at every start). */
  serverId: string;
  /** Where the other servers of the deployment reach this one (`--internal-url`). */
  internalUrl: string;
  close(): Promise<void>;
}

export { databasePath, readRunningServerUrl, serverInfoFile };

/** How often a server refreshes its entry in the directory of servers, ms. */
const serverHeartbeatMs = 15_000;
/** A directory entry silent for this long belongs to a server that died: nothing is forwarded to it. */
const serverStaleAfterMs = 4 * serverHeartbeatMs;
/** Entries silent for this long are removed from the directory. */
const forgetServersAfterMs = 24 * 3_600_000;

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
  // Checked before anything opens; the value needs the bound port (below).
  resolveInternalUrl(config, config.port);
  const dataDir = resolve(config.dataDir);
  const store = await openStore(config, { existingDataDir: false, logger });
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
  const totpKey = loadOrCreateTotpEncryptionKey(dataDir);
  if (config.databaseUrl) {
    try {
      await assertDeploymentKeys(store as PostgresStore, {
        jwks,
        signingSecret,
        totpKey,
        dataDir,
      });
    } catch (err) {
      await store.close();
      throw err;
    }
  }
  await ensureDefaultOperator(store, Date.now());

  let handler: (request: Request) => Response | Promise<Response> = () =>
    new Response('starting', { status: 503 });
  const listener = getRequestListener((request: Request) => handler(request));
  let onRequest: RequestListener = (req, res) => void listener(req, res);
  const server = createServer((req, res) => onRequest(req, res));
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
  // The directory of servers: peers forward requests about this server's handoff sessions here.
  const serverId = createId('srv', 12);
  const internalUrl = resolveInternalUrl(config, port);
  const sendHeartbeat = () =>
    store.saveServerHeartbeat(
      { id: serverId, internalUrl, heartbeatAt: Date.now() },
      Date.now() - forgetServersAfterMs,
    );
  await sendHeartbeat();
  const heartbeat = setInterval(
    () =>
      void sendHeartbeat().catch((error: unknown) =>
        logger.warn({ err: error }, 'could not refresh this server in the directory of servers'),
      ),
    serverHeartbeatMs,
  );
  heartbeat.unref();

  const totp = new TotpStepUp(store, totpKey);
  const webauthn = createLazyWebAuthnService({
    store,
    rpName: 'loopgate',
    ...relyingPartyFromPublicUrl(url),
  });
  // Several servers on one PostgreSQL database hear each other's changes; SQLite: no cost.
  const changeFeed = await openChangeFeed(config.databaseUrl, logger);
  const service = new ApprovalService({
    store,
    changeFeed: changeFeed.feed,
    receiptKey,
    signingSecret,
    publicUrl: url,
    totp,
    webauthn,
    recipientPolicy,
    recheckIntervalMs: config.waitRecheckSeconds * 1_000,
    // Loaded on the first edit, like the MCP SDK it comes from.
    validateToolArguments: async (schema, args) =>
      (await import('../mcp/validateToolArguments.js')).validateToolArguments(schema, args),
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
      import('../mcp/requestState.js'),
      import('../mcp/taskLedger.js'),
    ]).then(
      ([
        { createMcpHttpEndpoint },
        { createLocalApprovalsClient },
        { createRequestStateSealer },
        { createTaskLedger, storeTaskCancellations },
      ]) =>
        createMcpHttpEndpoint(
          ({ agentId }) =>
            createLocalApprovalsClient({
              service,
              agentId,
              jwks: () => jwks,
              // Every server of a deployment may serve a retry: the state is used once, per store.
              requestState: createRequestStateSealer({
                agentId,
                secret: signingSecret,
                claimOnce: (id, expiresAtMs) =>
                  store.claimTask(`mcp-request-state:${id}`, Date.now(), expiresAtMs),
              }),
              // Each 2026-07-28 poll may land on another server: a cancellation is in the store.
              tasks: createTaskLedger({
                agentId,
                secret: signingSecret,
                cancellations: storeTaskCancellations(store),
              }),
            }),
          (error) => logger.debug({ err: error }, 'mcp endpoint error'),
        ),
    ));
  const mcp: McpEndpoint = {
    fetch: async (request, agent) => (await loadMcpEndpoint()).fetch(request, agent),
  };
  const allowed = buildAllowedOrigins(url, port, isLoopbackHost(config.host));
  const relay = createRelayHub({
    publicUrl: url,
    claimSession: ({ sessionId, keepUntil }) =>
      store.recordHandoffOwner({ sessionId, serverId, keepUntil }, Date.now()),
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
  const forwarder = createHandoffForwarder({
    serverId,
    holds: (sessionId) => relay.hasSession(sessionId),
    findOwner: (sessionId, now) => store.findHandoffOwner(sessionId, now),
    staleAfterMs: serverStaleAfterMs,
    logger,
  });
  server.on('upgrade', (req, socket, head: Buffer) => {
    forwarder.handleUpgrade(req, socket, head, () => {
      if (!relay.handleUpgrade(req, socket, head)) socket.destroy();
    });
  });
  onRequest = (req, res) => forwarder.handleRequest(req, res, () => void listener(req, res));
  const app = createApp({
    ticketSecret: signingSecret,
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
    serverId,
    internalUrl,
    async close() {
      clearInterval(heartbeat);
      // Peers stop forwarding here at once, rather than after the entry goes stale.
      await store
        .removeServer(serverId)
        .catch((error: unknown) => logger.warn({ err: error }, 'could not leave the directory'));
      service.stop();
      await changeFeed.close();
      await notifications.close();
      await relay.close();
      forwarder.close();
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
