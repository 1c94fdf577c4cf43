import { Hono } from 'hono';
import { z } from 'zod';
import { LoopgateError } from '../core/errors.js';
import { readShadowAuditEntry, type ShadowEntry } from '../core/shadowAudit.js';
import type { Store } from '../store/store.js';
import type { AppEnv } from './appEnv.js';
import { requireOperator } from './authenticate.js';
import { servePrivatePage } from './staticPages.js';

const querySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/** How many `gateway.shadow` entries a server keeps at hand for the page: the newest ones. */
export const maxListedShadowCalls = 500;
/** Audit entries read per query while catching up with the log. */
const scanBatch = 5_000;

/**
 * `GET /v1/shadow-calls?limit=N` (operators only): the calls shadow-mode policy rules let
 * through and would have held back (`gateway.shadow` audit entries), newest first, at most
 * {@link maxListedShadowCalls}:
 * `{items: [{seq, at, tool, agent, gate, rule, action_hash, reason}]}` (`at` ISO 8601).
 *
 * The audit log is the record (every server of a deployment writes to it): each server reads
 * the entries appended since it last looked, in `seq` order, and keeps the newest ones, so a
 * request costs only what is new. The audit chain's `seq` has no gaps, so nothing is skipped.
 */
export function createShadowRoutes(store: Store): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  let kept: ShadowEntry[] = [];
  let scannedSeq = 0;
  let catchingUp: Promise<void> = Promise.resolve();

  const catchUp = async () => {
    for (;;) {
      const batch = await store.listAuditEntries(scannedSeq, scanBatch);
      for (const entry of batch) {
        const shadow = readShadowAuditEntry(entry);
        if (shadow) kept.push(shadow);
        scannedSeq = entry.seq;
      }
      if (kept.length > maxListedShadowCalls) kept = kept.slice(-maxListedShadowCalls);
      if (batch.length < scanBatch) return;
    }
  };

  app.get('/shadow-calls', async (c) => {
    requireOperator(c);
    const query = querySchema.safeParse(c.req.query());
    if (!query.success)
      throw new LoopgateError('E_HTTP_BODY_INVALID', `limit must be 1-${maxListedShadowCalls}.`);
    // One catch-up at a time: concurrent requests wait for the same read.
    catchingUp = catchingUp.catch(() => undefined).then(catchUp);
    await catchingUp;
    c.header('Cache-Control', 'no-store');
    return c.json({
      items: kept
        .slice(-query.data.limit)
        .reverse()
        .map((e) => ({
          seq: e.seq,
          at: new Date(e.at).toISOString(),
          tool: e.tool,
          agent: e.agent,
          gate: e.gate,
          rule: e.rule,
          action_hash: e.actionHash,
          reason: e.reason,
        })),
    });
  });
  return app;
}

/** `/shadow`: the signed-in page listing {@link createShadowRoutes}' calls (strict CSP, no-store). */
export function createShadowPages(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/shadow', servePrivatePage('shadow.html'));
  return app;
}
