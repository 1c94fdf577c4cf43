import { Hono, type Context } from 'hono';
import { LoopgateError } from '../core/errors.js';
import { handoffCreateSchema, handoffEndSchema } from '../handoff/handoffView.js';
import type { RelayHub } from '../handoff/relayHub.js';
import type { AppEnv } from './appEnv.js';
import { requirePrincipal } from './authenticate.js';
import { readJsonBody } from './readJsonBody.js';

/** Longest `GET /v1/handoff/:id/wait` blocks, seconds (MCP clients time out at 60 s). */
export const maxHandoffWaitSeconds = 50;
const defaultWaitSeconds = 45;

/** Handoff sessions belong to agents; an operator's session cookie cannot open or end one. */
function requireAgent(c: Context<AppEnv>): string {
  const principal = requirePrincipal(c);
  if (principal.kind !== 'agent') {
    throw new LoopgateError('E_AUTH_FORBIDDEN', 'Handoff sessions are opened and ended by agents, with "Authorization: Bearer <agent key>".');
  }
  return principal.agentId;
}

function parseWaitSeconds(raw: string | undefined): number {
  if (raw === undefined) return defaultWaitSeconds;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    throw new LoopgateError('E_HANDOFF_REQUEST_INVALID', `max_wait_seconds must be a number from 0 to ${maxHandoffWaitSeconds}; got "${raw}".`);
  }
  return Math.min(n, maxHandoffWaitSeconds);
}

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
    const agentId = requireAgent(c);
    const input = await readJsonBody(c, handoffCreateSchema, 'E_HANDOFF_REQUEST_INVALID');
    const created = relay.createSession(agentId, input);
    c.get('log').info({ session_id: created.session_id, agent_id: agentId }, 'handoff session opened');
    return c.json(created, 201);
  });

  app.get('/handoff/:id', (c) => c.json(relay.getSession(c.req.param('id'), requireAgent(c))));

  app.get('/handoff/:id/wait', async (c) => {
    const agentId = requireAgent(c);
    const seconds = parseWaitSeconds(c.req.query('max_wait_seconds'));
    const view = await relay.waitForChange(c.req.param('id'), agentId, { maxWaitMs: seconds * 1_000, signal: c.req.raw.signal });
    return c.json(view);
  });

  app.post('/handoff/:id/cancel', (c) => c.json(relay.cancel(c.req.param('id'), requireAgent(c))));

  app.post('/handoff/:id/end', async (c) => {
    const agentId = requireAgent(c);
    const body = await readJsonBody(c, handoffEndSchema, 'E_HANDOFF_REQUEST_INVALID');
    return c.json(relay.end(c.req.param('id'), agentId, body.status, body.detail));
  });

  return app;
}
