import { Hono, type Context } from 'hono';
import { handoffCreateSchema, handoffEndSchema } from '../handoff/handoffView.js';
import type { RelayHub } from '../handoff/relayHub.js';
import type { AppEnv } from './appEnv.js';
import { requireAgent } from './authenticate.js';
import { parseWaitSeconds } from './parseWaitSeconds.js';
import { readJsonBody } from './readJsonBody.js';

const handoffAgentsOnly =
  'Handoff sessions are opened and ended by agents, with "Authorization: Bearer <agent key>".';

/** Handoff sessions belong to agents; an operator's browser session cannot open or end one. */
const agentIdOf = (c: Context<AppEnv>) => requireAgent(c, handoffAgentsOnly).agentId;

/**
 * The agent side's HTTP API of the handoff relay (`/v1/handoff…`, agent key only; an agent
 * sees only its own sessions). The two WebSocket endpoints are served by
 * {@link RelayHub.handleUpgrade}.
 *
 * - `POST /v1/handoff` `{service, blocker_type?, ttl_seconds?}` → 201 view + `viewer_url` + `agent_token`
 * - `GET /v1/handoff/:id` → view
 * - `GET /v1/handoff/:id/wait?max_wait_seconds=S` → view, the moment the status changes (S ≤ 50)
 * - `POST /v1/handoff/:id/cancel` → view with status `cancelled`
 * - `POST /v1/handoff/:id/end` `{status: resolved|cancelled|error, detail?}` → view
 */
export function createHandoffRoutes(relay: RelayHub): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post('/handoff', async (c) => {
    const agentId = agentIdOf(c);
    const input = await readJsonBody(c, handoffCreateSchema, 'E_HANDOFF_REQUEST_INVALID');
    const created = await relay.openSession(agentId, input);
    c.get('log').info(
      { session_id: created.session_id, agent_id: agentId },
      'handoff session opened',
    );
    return c.json(created, 201);
  });

  app.get('/handoff/:id', (c) => c.json(relay.getSession(c.req.param('id'), agentIdOf(c))));

  app.get('/handoff/:id/wait', async (c) => {
    const agentId = agentIdOf(c);
    const seconds = parseWaitSeconds(c.req.query('max_wait_seconds'), 'E_HANDOFF_REQUEST_INVALID');
    const view = await relay.waitForChange(c.req.param('id'), agentId, {
      maxWaitMs: seconds * 1_000,
      signal: c.req.raw.signal,
    });
    return c.json(view);
  });

  app.post('/handoff/:id/cancel', (c) => c.json(relay.cancel(c.req.param('id'), agentIdOf(c))));

  app.post('/handoff/:id/end', async (c) => {
    const agentId = agentIdOf(c);
    const body = await readJsonBody(c, handoffEndSchema, 'E_HANDOFF_REQUEST_INVALID');
    return c.json(relay.end(c.req.param('id'), agentId, body.status, body.detail));
  });

  return app;
}
