import { Hono } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { isLoopgateError } from '../core/errors.js';
import { sessionTtlMs, signInWithToken } from '../service/operatorAuth.js';
import type { Store } from '../store/store.js';
import type { AppEnv } from './appEnv.js';
import { requireOperator, requirePrincipal, sessionCookieName } from './authenticate.js';
import { hashSecret } from '../core/ids.js';

/** Only same-site paths may follow a sign-in (no open redirect). */
function safeNext(next: string | undefined): string {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}

/**
 * Sign-in by one-time link (`GET /login?token=…&next=…`), `GET /v1/session`, `POST /v1/logout`.
 * The session cookie is HttpOnly, SameSite=Strict, and Secure when the public URL is https.
 */
export function createSessionRoutes(store: Store, options: { secureCookies: boolean; now: () => number }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get('/login', async (c) => {
    const token = c.req.query('token') ?? '';
    const next = safeNext(c.req.query('next'));
    try {
      const { cookieValue, operator } = await signInWithToken(store, token, options.now());
      setCookie(c, sessionCookieName, cookieValue, {
        httpOnly: true,
        sameSite: 'Strict',
        secure: options.secureCookies,
        path: '/',
        maxAge: Math.floor(sessionTtlMs / 1_000),
      });
      c.get('log').info({ operator: operator.name }, 'operator signed in');
      c.header('Referrer-Policy', 'no-referrer');
      return c.redirect(next, 303);
    } catch (err) {
      if (!isLoopgateError(err, 'E_AUTH_LOGIN_TOKEN_INVALID')) throw err;
      const reason = /already used/.test(err.message) ? 'used' : /expired/.test(err.message) ? 'expired' : 'invalid';
      c.get('log').warn({ reason }, 'sign-in link refused');
      return c.redirect(`/signin?error=${reason}&next=${encodeURIComponent(next)}`, 303);
    }
  });

  app.get('/v1/session', (c) => {
    const principal = requirePrincipal(c);
    if (principal.kind !== 'operator') {
      return c.json({ agent: { id: principal.agentId } });
    }
    const { operator, session } = principal;
    return c.json({ operator: { id: operator.id, name: operator.name, role: operator.role }, csrf_token: session.csrfToken });
  });

  app.post('/v1/logout', async (c) => {
    const { session } = requireOperator(c);
    await store.deleteSession(session.idHash);
    deleteCookie(c, sessionCookieName, { path: '/', secure: options.secureCookies });
    return c.body(null, 204);
  });

  return app;
}

/** Exposed for tests: the stored form of a session cookie value. */
export const sessionIdHash = hashSecret;
