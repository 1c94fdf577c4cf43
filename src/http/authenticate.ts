import type { MiddlewareHandler } from 'hono';
import { LoopgateError } from '../core/errors.js';
import { authenticateAgentKey, checkCsrfToken, resolveSession } from '../service/operatorAuth.js';
import type { Store } from '../store/store.js';
import type { AppEnv, Principal } from './appEnv.js';

/**
 * The header that carries a signed-in browser's session secret. Cookies are never read for
 * authority: browsers share them across every port of a host, while a custom header can only be
 * sent by loopgate's own pages (a cross-origin page would need a CORS preflight loopgate never
 * grants), and only they can read the secret (localStorage is per origin).
 */
export const sessionHeaderName = 'X-Loopgate-Session';

/**
 * Sets `principal` from `Authorization: Bearer <agent key>` or the `X-Loopgate-Session` header.
 * A bearer header that does not verify is refused outright (E_AUTH_KEY_INVALID) rather than
 * ignored; an unknown session secret leaves the caller anonymous.
 */
export function authenticate(store: Store, now: () => number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    let principal: Principal | null = null;
    const authorization = c.req.header('authorization');
    if (authorization !== undefined) {
      const match = /^Bearer\s+(\S+)$/i.exec(authorization);
      if (!match)
        throw new LoopgateError(
          'E_AUTH_KEY_INVALID',
          'Authorization must be "Bearer <agent key>".',
        );
      const agent = await authenticateAgentKey(store, match[1]!, now());
      principal = { kind: 'agent', agentId: agent.name, keyId: agent.id, scope: agent.scope };
    } else {
      const secret = c.req.header(sessionHeaderName);
      if (secret) {
        const resolved = await resolveSession(store, secret, now());
        if (resolved) principal = { kind: 'operator', ...resolved };
      }
    }
    c.set('principal', principal);
    await next();
  };
}

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Fetch Metadata guard (W3C Fetch Metadata Request Headers §2.1): a state-changing request whose
 * `Sec-Fetch-Site` is present and not `same-origin` came from a page of another origin (another
 * port of localhost counts: `same-site` is refused too) and is refused. Callers that are not
 * browsers (agents, Slack, the CLI) send no such header and pass.
 * @throws LoopgateError E_HTTP_FETCH_SITE_FORBIDDEN
 */
export function fetchSiteGuard(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const site = c.req.header('sec-fetch-site');
    if (site !== undefined && site !== 'same-origin' && !safeMethods.has(c.req.method)) {
      throw new LoopgateError(
        'E_HTTP_FETCH_SITE_FORBIDDEN',
        `A ${c.req.method} with Sec-Fetch-Site "${site}" is refused; only loopgate's own pages (same-origin) may change anything.`,
      );
    }
    await next();
  };
}

/** Refuses anonymous callers (E_AUTH_REQUIRED). */
export function requirePrincipal(c: { get(key: 'principal'): Principal | null }): Principal {
  const principal = c.get('principal');
  if (!principal) {
    throw new LoopgateError(
      'E_AUTH_REQUIRED',
      'Sign in (operators: open a link from `loopgate login-url`; pages send X-Loopgate-Session) or send an agent key.',
    );
  }
  return principal;
}

/**
 * Only an agent key may pass; `refusal` says what the route is for (E_AUTH_FORBIDDEN otherwise).
 * @throws LoopgateError E_AUTH_REQUIRED, E_AUTH_FORBIDDEN
 */
export function requireAgent(
  c: { get(key: 'principal'): Principal | null },
  refusal: string,
): Extract<Principal, { kind: 'agent' }> {
  const principal = requirePrincipal(c);
  if (principal.kind !== 'agent') throw new LoopgateError('E_AUTH_FORBIDDEN', refusal);
  return principal;
}

/**
 * Only an agent key of scope `gateway` may pass (`loopgate keys create --scope gateway`): the
 * `/v1/gateway/*` routes create gated approvals, consume them and check `otp` arguments, which
 * an ordinary agent key must never do.
 * @throws LoopgateError E_AUTH_REQUIRED, E_AUTH_FORBIDDEN
 */
export function requireGatewayKey(c: {
  get(key: 'principal'): Principal | null;
}): Extract<Principal, { kind: 'agent' }> {
  const agent = requireAgent(
    c,
    'The gateway routes are for a loopgate proxy holding a gateway key; operators never call them.',
  );
  if (agent.scope !== 'gateway') {
    throw new LoopgateError(
      'E_AUTH_FORBIDDEN',
      `Agent key ${agent.keyId} has scope "${agent.scope}"; /v1/gateway/* needs a gateway key (\`loopgate keys create --name NAME --scope gateway\`).`,
    );
  }
  return agent;
}

/**
 * Only a signed-in operator whose request carries the session's CSRF token may pass. Agent keys
 * are refused with 403: an agent can never decide (the self-approval attack).
 * @throws LoopgateError E_AUTH_REQUIRED, E_AUTH_FORBIDDEN, E_CSRF_TOKEN_INVALID
 */
export function requireOperator(c: {
  get(key: 'principal'): Principal | null;
  req: { header(name: string): string | undefined; method: string };
}): Extract<Principal, { kind: 'operator' }> {
  const principal = requirePrincipal(c);
  if (principal.kind !== 'operator') {
    throw new LoopgateError(
      'E_AUTH_FORBIDDEN',
      'Agent keys cannot decide or act for a human; a signed-in operator must do this.',
    );
  }
  if (
    c.req.method !== 'GET' &&
    c.req.method !== 'HEAD' &&
    !checkCsrfToken(principal.session, c.req.header('x-csrf-token'))
  ) {
    throw new LoopgateError(
      'E_CSRF_TOKEN_INVALID',
      'Missing or wrong X-CSRF-Token header; reload the page and try again.',
    );
  }
  return principal;
}
