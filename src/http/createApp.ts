import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import type { Logger } from 'pino';
import { LoopgateError } from '../core/errors.js';
import type { Jwks } from '../crypto/signingKeys.js';
import type { ApprovalService } from '../service/approvalService.js';
import type { Store } from '../store/store.js';
import type { AppEnv } from './appEnv.js';
import type { GrantService } from '../service/grantService.js';
import { createApprovalRoutes } from './approvalRoutes.js';
import { defaultMaxBodyBytes, limitBody } from './limitBody.js';
import { authenticate, fetchSiteGuard } from './authenticate.js';
import { EventTickets } from '../service/eventTickets.js';
import { hostOriginGuard, type AllowedOrigins } from './hostOriginGuard.js';
import { createSessionRoutes } from './sessionRoutes.js';
import { createSettingsRoutes } from './settingsRoutes.js';
import type { TotpStepUp } from '../service/stepUp.js';
import { FactorChangeGuard } from '../service/factorChange.js';
import { createStaticRoutes } from './staticPages.js';

/** A fetch-shaped MCP endpoint (built in src/mcp) and what it needs from the caller. */
export interface McpEndpoint {
  fetch(
    request: Request,
    agent: { agentId: string; keyId: string; token: string },
  ): Promise<Response>;
}

/** What the HTTP app is built from. Building is not listening: the CLI binds the port. */
export interface AppDeps {
  store: Store;
  service: ApprovalService;
  /** Standing grants; without it, a decision asking for a grant is refused. */
  grants?: GrantService;
  jwks: () => Jwks;
  logger: Logger;
  /** Host and Origin values to accept (DNS-rebinding guard). */
  allowedOrigins: () => AllowedOrigins;
  mcp?: McpEndpoint;
  /** TOTP enrolment for the settings page; without it `/v1/settings` is not served. */
  totp?: TotpStepUp;
  /**
   * Who may add or replace a factor; by default one that accepts TOTP proofs only (the CLI
   * passes one that knows passkeys too, and hands the same one to the passkey routes).
   */
  factorGuard?: FactorChangeGuard;
  /** More `/v1` routes (passkeys). */
  extraApiRoutes?: Hono<AppEnv>[];
  /** More routes outside `/v1` (channel pages such as `/email/confirm`), before the static pages. */
  extraRoutes?: Hono<AppEnv>[];
  /** Extra static asset folders: `/assets/<prefix>/…` → folder. */
  extraAssets?: Record<string, string>;
  /** Largest request body read on any route, in bytes, chunked bodies included. Default 1 MiB. */
  maxBodyBytes?: number;
  /**
   * The deployment's signing secret, which MACs event-stream tickets so that every server of a
   * deployment accepts them. Without it tickets work on this process alone.
   */
  ticketSecret?: string;
  now?: () => number;
}

/**
 * The loopgate HTTP application: REST API under `/v1`, sign-in, the web UI, the JWKS, and the
 * MCP streamable-HTTP endpoint `/mcp`. Errors become `{error: {code, message}}`; anything
 * unexpected is logged and answered with a generic 500.
 */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const now = deps.now ?? Date.now;
  const app = new Hono<AppEnv>();

  app.onError((err, c) => {
    const log = c.get('log') ?? deps.logger;
    if (err instanceof LoopgateError) {
      if (err.status >= 500) log.error({ err }, err.message);
      else log.debug({ code: err.code }, err.message);
      if (err.status === 401 && c.req.path === '/mcp')
        c.header('WWW-Authenticate', 'Bearer realm="loopgate"');
      return c.json({ error: { code: err.code, message: err.message } }, err.status as 400);
    }
    log.error({ err }, 'unhandled error');
    return c.json(
      { error: { code: 'E_HTTP_INTERNAL', message: 'Internal error; see the server log.' } },
      500,
    );
  });
  app.notFound((c) =>
    c.json(
      {
        error: { code: 'E_HTTP_NOT_FOUND', message: `No route for ${c.req.method} ${c.req.path}.` },
      },
      404,
    ),
  );

  app.use('*', async (c, next) => {
    const requestId = randomUUID();
    c.set('requestId', requestId);
    c.set('log', deps.logger.child({ req: requestId }));
    await next();
    c.header('X-Request-Id', requestId);
  });
  app.use('*', hostOriginGuard(deps.allowedOrigins));
  app.use('*', limitBody(deps.maxBodyBytes ?? defaultMaxBodyBytes));
  app.use('*', fetchSiteGuard());

  app.get('/healthz', (c) => c.json({ ok: true }));
  // For a load balancer: 200 while the database answers and holds every migration, else 503.
  // The body names the code only; what went wrong (hosts, driver messages) goes to the log.
  app.get('/readyz', async (c) => {
    const readiness = await deps.store.checkReadiness();
    if (readiness.ok) return c.json({ ok: true, schema_version: readiness.schemaVersion });
    (c.get('log') ?? deps.logger).warn({ code: readiness.code }, readiness.message);
    const message =
      readiness.code === 'E_STORE_SCHEMA_OUTDATED'
        ? 'The database lacks migrations this server needs; run `loopgate db migrate`.'
        : 'The database does not answer; see the server log.';
    return c.json({ error: { code: readiness.code, message } }, 503);
  });
  app.get('/.well-known/loopgate/jwks.json', (c) => {
    c.header('Cache-Control', 'public, max-age=300');
    return c.json(deps.jwks());
  });

  app.use('*', authenticate(deps.store, now));
  const tickets = new EventTickets(deps.store, now, deps.ticketSecret);
  app.route('/', createSessionRoutes(deps.store, { tickets, now }));
  app.route('/v1', createApprovalRoutes(deps.service, tickets, deps.grants));
  if (deps.totp) {
    const guard =
      deps.factorGuard ??
      new FactorChangeGuard({ store: deps.store, totp: deps.totp, passkeys: null, now });
    app.route('/v1', createSettingsRoutes(deps.store, deps.totp, guard));
  }
  for (const routes of deps.extraApiRoutes ?? []) app.route('/v1', routes);

  if (deps.mcp) {
    const mcp = deps.mcp;
    app.all('/mcp', (c) => {
      const principal = c.get('principal');
      if (!principal || principal.kind !== 'agent') {
        throw new LoopgateError(
          'E_AUTH_REQUIRED',
          'The MCP endpoint needs "Authorization: Bearer <agent key>" (create one with `loopgate keys create --name NAME`).',
        );
      }
      const token = (c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, '');
      return mcp.fetch(c.req.raw, { agentId: principal.agentId, keyId: principal.keyId, token });
    });
  }

  for (const routes of deps.extraRoutes ?? []) app.route('/', routes);
  app.route('/', createStaticRoutes(deps.extraAssets));
  return app;
}
