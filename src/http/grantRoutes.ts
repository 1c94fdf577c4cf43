import { Hono } from 'hono';
import { z } from 'zod';
import { LoopgateError } from '../core/errors.js';
import type { GrantService } from '../service/grantService.js';
import type { AppEnv } from './appEnv.js';
import { requireOperator } from './authenticate.js';
import { servePrivatePage } from './staticPages.js';

const listQuerySchema = z.object({
  status: z.enum(['live', 'all']).default('all'),
  agent: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/**
 * Standing grants for signed-in operators (docs/api.md):
 * - `GET /v1/grants?status=live|all&agent=ID&limit=N` → `{items: GrantView[]}`, newest first;
 * - `GET /v1/grants/:id` → one `GrantView`;
 * - `POST /v1/grants/:id/revoke` (CSRF token) → the revoked `GrantView`; from the next call on
 *   the grant forwards nothing;
 * - `GET /v1/approvals/:id/grant-offer` → what the approval may become:
 *   `{reaches, max_minutes, max_uses, session}` (its policy rule's `grants:`; once only without).
 * @throws LoopgateError E_GRANT_NOT_FOUND, E_HTTP_BODY_INVALID (bad query)
 */
export function createGrantRoutes(grants: GrantService): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get('/grants', async (c) => {
    requireOperator(c);
    const query = listQuerySchema.safeParse(c.req.query());
    if (!query.success)
      throw new LoopgateError(
        'E_HTTP_BODY_INVALID',
        'status must be live or all; agent 1-200 characters; limit 1-500.',
      );
    const items = await grants.list({
      limit: query.data.limit,
      ...(query.data.agent ? { agentId: query.data.agent } : {}),
      live: query.data.status === 'live',
    });
    c.header('Cache-Control', 'no-store');
    return c.json({ items: items.map((g) => grants.view(g)) });
  });

  app.get('/grants/:id', async (c) => {
    requireOperator(c);
    c.header('Cache-Control', 'no-store');
    return c.json(grants.view(await grants.get(c.req.param('id'))));
  });

  app.post('/grants/:id/revoke', async (c) => {
    const { operator } = requireOperator(c);
    const grant = await grants.revoke(c.req.param('id'), `operator:${operator.name}`);
    c.get('log').info({ grant_id: grant.id, by: operator.name }, 'grant revoked');
    return c.json(grants.view(grant));
  });

  app.get('/approvals/:id/grant-offer', async (c) => {
    requireOperator(c);
    const offer = await grants.getOffer(c.req.param('id'));
    return c.json({
      reaches: offer.reaches,
      max_minutes: offer.maxMinutes,
      max_uses: offer.maxUses,
      session: offer.sessionId !== null,
    });
  });

  return app;
}

/** `/grants`: the signed-in "Standing grants" page (strict CSP, no-store). */
export function createGrantPages(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/grants', servePrivatePage('grants.html'));
  return app;
}
