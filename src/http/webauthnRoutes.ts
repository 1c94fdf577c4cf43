import { Hono } from 'hono';
import { z } from 'zod';
import type { WebAuthnService } from '../gates/webauthn.js';
import { maxPasskeyNameLength } from '../gates/webauthnSettings.js';
import type { AppEnv } from './appEnv.js';
import { requireOperator } from './authenticate.js';
import { readJsonBody } from './readJsonBody.js';

const registrationBodySchema = z
  .object({
    /** RegistrationResponseJSON from `SimpleWebAuthnBrowser.startRegistration()`; checked by the service. */
    response: z.unknown(),
    name: z.string().max(maxPasskeyNameLength * 4),
  })
  .strict();

/**
 * The passkey routes (docs/api.md "Passkeys"), mounted under `/v1`. Operator-only: the
 * `X-Loopgate-Session` header, and on POST the session's `X-CSRF-Token`; agent keys get 403.
 *
 * - `POST /webauthn/registration/options` → PublicKeyCredentialCreationOptionsJSON
 * - `POST /webauthn/registration/verify` `{response, name}` → 201 `{id, name, created_at, last_used_at, flagged}`
 * - `GET /webauthn/credentials` → `{items: [{id, name, created_at, last_used_at, flagged}]}`
 * - `POST /approvals/:id/webauthn/options` → PublicKeyCredentialRequestOptionsJSON whose
 *   challenge is bound to that request and operator; the assertion goes to the decision route
 *   as `webauthn`.
 *
 * @throws LoopgateError E_AUTH_REQUIRED, E_AUTH_FORBIDDEN, E_CSRF_TOKEN_INVALID,
 *   E_HTTP_BODY_INVALID, and the service's E_WEBAUTHN_* / E_APPROVAL_* codes
 */
export function createWebAuthnRoutes(webauthn: WebAuthnService): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post('/webauthn/registration/options', async (c) => {
    const { operator } = requireOperator(c);
    return c.json(await webauthn.registrationOptions(operator));
  });

  app.post('/webauthn/registration/verify', async (c) => {
    const { operator } = requireOperator(c);
    const body = await readJsonBody(c, registrationBodySchema, 'E_HTTP_BODY_INVALID');
    const passkey = await webauthn.verifyRegistration(operator, body.response, body.name);
    c.get('log').info({ operator: operator.name, credential_id: passkey.id }, 'passkey registered');
    return c.json(passkey, 201);
  });

  app.get('/webauthn/credentials', async (c) => {
    const { operator } = requireOperator(c);
    return c.json({ items: await webauthn.listCredentials(operator) });
  });

  app.post('/approvals/:id/webauthn/options', async (c) => {
    const { operator } = requireOperator(c);
    return c.json(await webauthn.authenticationOptions(operator, c.req.param('id')));
  });

  return app;
}
