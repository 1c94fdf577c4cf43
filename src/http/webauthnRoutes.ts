import { Hono } from 'hono';
import { z } from 'zod';
import type { WebAuthnService } from '../gates/webauthn.js';
import type { FactorChangeGuard } from '../service/factorChange.js';
import { maxPasskeyNameLength } from '../gates/webauthnSettings.js';
import type { AppEnv } from './appEnv.js';
import { requireOperator } from './authenticate.js';
import { readFactorProof } from './readFactorProof.js';
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
 * - `POST /webauthn/proof/options` → PublicKeyCredentialRequestOptionsJSON to prove a current
 *   passkey before a factor change (the assertion goes in `current_webauthn`)
 * - `POST /webauthn/registration/options` `{current_totp_code | current_webauthn}` →
 *   PublicKeyCredentialCreationOptionsJSON; once the operator has a factor, one must be proved
 *   here (the registration challenge is issued only then); a first passkey needs a session
 *   from an invite link
 * - `POST /webauthn/registration/verify` `{response, name}` → 201 `{id, name, created_at, last_used_at, flagged}`
 * - `GET /webauthn/credentials` → `{items: [{id, name, created_at, last_used_at, flagged}]}`
 * - `POST /approvals/:id/webauthn/options` → PublicKeyCredentialRequestOptionsJSON whose
 *   challenge is bound to that request and operator; the assertion goes to the decision route
 *   as `webauthn`.
 *
 * @throws LoopgateError E_AUTH_REQUIRED, E_AUTH_FORBIDDEN, E_CSRF_TOKEN_INVALID,
 *   E_HTTP_BODY_INVALID, E_FACTOR_PROOF_REQUIRED, E_FACTOR_FIRST_NEEDS_INVITE, and the
 *   services' E_WEBAUTHN_* / E_TOTP_* / E_APPROVAL_* codes
 */
export function createWebAuthnRoutes(
  webauthn: WebAuthnService,
  guard: FactorChangeGuard,
): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post('/webauthn/proof/options', async (c) => {
    const { operator } = requireOperator(c);
    return c.json(await webauthn.proofOptions(operator));
  });

  app.post('/webauthn/registration/options', async (c) => {
    const { operator, session } = requireOperator(c);
    const granted = await guard.authorize(operator, session, await readFactorProof(c), 'passkey');
    c.get('log').info({ operator: operator.name, granted }, 'passkey registration begun');
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
