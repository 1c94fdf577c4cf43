import { Hono } from 'hono';
import { z } from 'zod';
import { LoopgateError } from '../core/errors.js';
import type { FactorChangeGuard } from '../service/factorChange.js';
import type { TotpStepUp } from '../service/stepUp.js';
import type { Store } from '../store/store.js';
import type { AppEnv } from './appEnv.js';
import { requireOperator } from './authenticate.js';
import { readFactorProof } from './readFactorProof.js';
import { readJsonBody } from './readJsonBody.js';

const confirmSchema = z
  .object({ enrollment_token: z.string().min(1).max(1_000), code: z.string().max(20) })
  .strict();

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The signed-in operator's own settings: `GET /v1/settings` (with the factors added or
 * replaced lately, as `factor_changes`), TOTP enrolment (`POST /v1/settings/totp/begin`, which
 * needs a current factor — or, for a first factor, a session from an invite link — then
 * `POST /v1/settings/totp/confirm`), and an admin's `POST /v1/operators/:name/totp/unlock`.
 * @throws LoopgateError E_FACTOR_PROOF_REQUIRED, E_FACTOR_FIRST_NEEDS_INVITE, E_TOTP_*
 */
export function createSettingsRoutes(
  store: Store,
  totp: TotpStepUp,
  guard: FactorChangeGuard,
): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get('/settings', async (c) => {
    const { operator, session } = requireOperator(c);
    const passkeys = await store.listWebAuthnCredentials(operator.id);
    const status = await totp.status(operator);
    return c.json({
      operator: { id: operator.id, name: operator.name, role: operator.role },
      totp: {
        enrolled: status.enrolled,
        locked: status.locked,
        enrolled_at: status.enrolledAt === null ? null : iso(status.enrolledAt),
      },
      session: { source: session.source },
      factor_changes: (await guard.recentChanges(operator)).map((n) => ({
        kind: n.kind,
        name: n.name,
        at: iso(n.at),
      })),
      passkeys: passkeys.map((p) => ({
        id: p.id,
        name: p.name,
        created_at: new Date(p.createdAt).toISOString(),
        last_used_at: p.lastUsedAt === null ? null : new Date(p.lastUsedAt).toISOString(),
        flagged: p.flaggedAt !== null,
      })),
    });
  });

  app.post('/settings/totp/begin', async (c) => {
    const { operator, session } = requireOperator(c);
    const proof = await readFactorProof(c);
    const granted = await guard.authorize(operator, session, proof, 'totp');
    c.get('log').info({ operator: operator.name, granted }, 'authenticator enrolment begun');
    const start = await totp.beginEnrollment(operator);
    return c.json({
      uri: start.uri,
      qr_data_url: start.qrDataUrl,
      enrollment_token: start.enrollmentToken,
    });
  });

  app.post('/settings/totp/confirm', async (c) => {
    const { operator } = requireOperator(c);
    const body = await readJsonBody(c, confirmSchema, 'E_TOTP_CODE_MALFORMED');
    await totp.confirmEnrollment(operator, body.enrollment_token, body.code);
    c.get('log').info({ operator: operator.name }, 'authenticator enrolled');
    return c.json({ enrolled: true });
  });

  app.post('/operators/:name/totp/unlock', async (c) => {
    const { operator } = requireOperator(c);
    if (operator.role !== 'admin')
      throw new LoopgateError('E_AUTH_FORBIDDEN', 'Only an admin can unlock an authenticator.');
    const target = await store.getOperatorByName(c.req.param('name'));
    if (!target)
      throw new LoopgateError(
        'E_OPERATOR_NOT_FOUND',
        `No operator is named "${c.req.param('name')}".`,
      );
    await totp.unlock(target, `operator:${operator.name}`);
    return c.json({ unlocked: true });
  });

  return app;
}
