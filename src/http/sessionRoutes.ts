import { Hono } from 'hono';
import { z } from 'zod';
import type { ErrorCode } from '../core/errorCodes.js';
import { LoopgateError } from '../core/errors.js';
import type { EventTickets } from '../service/eventTickets.js';
import { signInWithToken } from '../service/operatorAuth.js';
import type { Store } from '../store/store.js';
import type { AppEnv } from './appEnv.js';
import { requireOperator, requirePrincipal } from './authenticate.js';
import { readJsonBody } from './readJsonBody.js';
import { servePrivatePage } from './staticPages.js';

/** Any base works: only whether `next` stays on it matters. */
const nextBase = 'http://loopgate.invalid';

/**
 * Checks a sign-in's `next`: a path on this server, with no control characters or whitespace
 * (browsers strip tabs and newlines from URLs, so `/\t/host` would become `//host`), that
 * resolves (WHATWG URL) to this origin. Returns the path, query and fragment to go to.
 */
export function checkNextPath(
  next: string,
): { ok: true; value: string } | { ok: false; code: ErrorCode; message: string } {
  const bad = !next.startsWith('/') || /[\s\u0000-\u001f\u007f]/.test(next);
  let url: URL | null = null;
  try {
    url = bad ? null : new URL(next, nextBase);
  } catch {
    url = null;
  }
  if (!url || url.origin !== nextBase) {
    return {
      ok: false,
      code: 'E_AUTH_NEXT_INVALID',
      message: `next must be a path on this server such as "/approvals/…"; got ${JSON.stringify(next.slice(0, 200))}.`,
    };
  }
  return { ok: true, value: url.pathname + url.search + url.hash };
}

const loginBodySchema = z
  .object({ token: z.string().max(200), next: z.string().max(2_000).optional() })
  .strict();

/**
 * Sign-in and the browser session (docs/api.md "Signing in"):
 *
 * - `GET /login?token=…&next=…` (and HEAD) only serves the sign-in page; a link unfurler or mail
 *   scanner that fetches the link spends nothing. The page's **Sign in** button posts the token.
 * - `POST /v1/login` `{token, next?}` → `{session, next, operator, csrf_token, expires_at}`:
 *   `next` is checked first (E_AUTH_NEXT_INVALID leaves the token unspent), then the one-time
 *   token is exchanged for a session secret the page keeps in localStorage and sends as
 *   `X-Loopgate-Session`. No cookie is set.
 * - `GET /v1/session`, `POST /v1/logout` (deletes the server's session).
 * - `POST /v1/events/tickets` → `{ticket, expires_at}` for `GET /v1/events?ticket=…`.
 */
export function createSessionRoutes(
  store: Store,
  options: { tickets: EventTickets; now: () => number },
): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/login', servePrivatePage('login.html'));

  app.post('/v1/login', async (c) => {
    const body = await readJsonBody(c, loginBodySchema, 'E_HTTP_BODY_INVALID');
    const next = checkNextPath(body.next ?? '/');
    if (!next.ok) throw new LoopgateError(next.code, next.message);
    const { secret, session, operator } = await signInWithToken(store, body.token, options.now());
    c.get('log').info({ operator: operator.name }, 'operator signed in');
    c.header('Cache-Control', 'no-store');
    return c.json({
      session: secret,
      next: next.value,
      operator: { id: operator.id, name: operator.name, role: operator.role },
      csrf_token: session.csrfToken,
      expires_at: new Date(session.expiresAt).toISOString(),
    });
  });

  app.get('/v1/session', (c) => {
    const principal = requirePrincipal(c);
    if (principal.kind !== 'operator') {
      return c.json({ agent: { id: principal.agentId } });
    }
    const { operator, session } = principal;
    return c.json({
      operator: { id: operator.id, name: operator.name, role: operator.role },
      csrf_token: session.csrfToken,
    });
  });

  app.post('/v1/logout', async (c) => {
    const { session } = requireOperator(c);
    await store.deleteSession(session.idHash);
    return c.body(null, 204);
  });

  app.post('/v1/events/tickets', (c) => {
    const { session } = requireOperator(c);
    const issued = options.tickets.issue(session);
    c.header('Cache-Control', 'no-store');
    return c.json({ ticket: issued.ticket, expires_at: new Date(issued.expiresAt).toISOString() });
  });

  return app;
}
