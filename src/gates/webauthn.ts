import { randomBytes } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { z } from 'zod';
import { effectiveStatus } from '../core/approval.js';
import type { ErrorCode } from '../core/errorCodes.js';
import { LoopgateError } from '../core/errors.js';
import type { Store } from '../store/store.js';
import type { OperatorRecord, WebAuthnCredentialRecord } from '../core/records.js';

export type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

export {
  maxPasskeyNameLength,
  relyingPartyFromPublicUrl,
  webAuthnChallengeBytes,
  webAuthnChallengeTtlMs,
  type RelyingParty,
} from './webauthnSettings.js';
import {
  maxPasskeyNameLength,
  webAuthnChallengeBytes,
  webAuthnChallengeTtlMs,
} from './webauthnSettings.js';

/** A passkey as the settings page and `GET /v1/webauthn/credentials` show it. Times are ISO 8601. */
export interface PasskeyView {
  id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
  flagged: boolean;
}

/** What {@link createWebAuthnService} needs. `now` returns ms since the Unix epoch. */
export interface WebAuthnServiceDeps {
  store: Store;
  /** Relying party id: the host name of `--public-url` (see {@link relyingPartyFromPublicUrl}). */
  rpId: string;
  /** Relying party name shown by authenticators. */
  rpName: string;
  /** The origin ceremonies must come from: the origin of `--public-url`. */
  origin: string;
  now?: () => number;
}

/** Passkeys for operators: registration in settings and assertions for gated decisions. */
export interface WebAuthnService {
  /**
   * Options for `navigator.credentials.create()` (WebAuthn Level 3 §5.4): a fresh 32-byte
   * challenge bound to `operator` (single use, 5 minutes), user verification required, the
   * operator's existing passkeys excluded.
   */
  registrationOptions(operator: OperatorRecord): Promise<PublicKeyCredentialCreationOptionsJSON>;
  /**
   * Verifies a registration response (WebAuthn Level 3 §7.1) against a challenge issued to
   * `operator` and stores the new passkey under `name`.
   * @throws LoopgateError E_WEBAUTHN_CHALLENGE_INVALID, E_WEBAUTHN_REGISTRATION_INVALID
   */
  verifyRegistration(
    operator: OperatorRecord,
    response: unknown,
    name: string,
  ): Promise<PasskeyView>;
  /** The operator's passkeys, oldest first. */
  listCredentials(operator: OperatorRecord): Promise<PasskeyView[]>;
  /**
   * Options for `navigator.credentials.get()` (WebAuthn Level 3 §5.5) to approve `requestId`:
   * a fresh 32-byte challenge bound to the operator *and* the request (single use, 5 minutes),
   * user verification required, only the operator's unflagged passkeys allowed.
   * @throws LoopgateError E_APPROVAL_NOT_FOUND, E_APPROVAL_ALREADY_DECIDED, E_APPROVAL_EXPIRED,
   *   E_WEBAUTHN_NOT_REGISTERED
   */
  authenticationOptions(
    operator: OperatorRecord,
    requestId: string,
  ): Promise<PublicKeyCredentialRequestOptionsJSON>;
  /**
   * Options for `navigator.credentials.get()` to prove a current passkey before a factor
   * change (service/factorChange.ts): a fresh challenge bound to the operator and to no
   * request, so it can never decide a request, and a request's challenge never proves this.
   * @throws LoopgateError E_WEBAUTHN_NOT_REGISTERED
   */
  proofOptions(operator: OperatorRecord): Promise<PublicKeyCredentialRequestOptionsJSON>;
  /**
   * Verifies a passkey assertion made by `operatorId` for `requestId` (WebAuthn Level 3 §7.2):
   * the challenge must be one issued to this operator for this request, unused and unexpired
   * (it is used up either way); the passkey must be the operator's and unflagged; the signature,
   * origin, RP ID hash and the UV flag must verify; the sign counter must increase (§6.1.1) —
   * when it does not, the passkey is flagged. Every outcome is audited
   * (`gate.webauthn.accepted`, `gate.webauthn.refused`, `gate.webauthn.counter_regressed`).
   * This is the service's `WebAuthnStepUpVerifier`.
   * @throws LoopgateError E_WEBAUTHN_ASSERTION_INVALID, E_WEBAUTHN_CHALLENGE_INVALID,
   *   E_WEBAUTHN_CREDENTIAL_UNKNOWN, E_WEBAUTHN_CREDENTIAL_FLAGGED, E_WEBAUTHN_COUNTER_REGRESSED
   */
  verifyAssertion(input: {
    operatorId: string;
    requestId: string | null;
    response: unknown;
    now: number;
  }): Promise<{ credentialId: string }>;
}

const base64url = z.string().regex(/^[A-Za-z0-9_-]*={0,2}$/, 'base64url');

const registrationResponseSchema = z.object({
  id: base64url.min(1),
  rawId: base64url.min(1),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64url.min(1),
    attestationObject: base64url.min(1),
    transports: z.array(z.string().max(32)).max(16).optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
});

const authenticationResponseSchema = z.object({
  id: base64url.min(1),
  rawId: base64url.min(1),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64url.min(1),
    authenticatorData: base64url.min(1),
    signature: base64url.min(1),
    userHandle: base64url.optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
});

/** The `challenge` member of a base64url clientDataJSON (WebAuthn Level 3 §5.8.1), or null. */
function readClientDataChallenge(clientDataJSON: string): string | null {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8'));
    if (
      parsed &&
      typeof parsed === 'object' &&
      'challenge' in parsed &&
      typeof parsed.challenge === 'string'
    ) {
      return parsed.challenge;
    }
  } catch {
    // Not JSON: the caller refuses the response.
  }
  return null;
}

const iso = (ms: number) => new Date(ms).toISOString();

function toPasskeyView(record: WebAuthnCredentialRecord): PasskeyView {
  return {
    id: record.id,
    name: record.name,
    created_at: iso(record.createdAt),
    last_used_at: record.lastUsedAt === null ? null : iso(record.lastUsedAt),
    flagged: record.flaggedAt !== null,
  };
}

/** Why an assertion was refused, as the audit log records it. */
type RefusalReason =
  | 'malformed'
  | 'challenge_invalid'
  | 'challenge_other_request'
  | 'credential_unknown'
  | 'credential_other_operator'
  | 'credential_flagged'
  | 'signature_invalid'
  | 'counter_regressed';

/**
 * Passkeys (WebAuthn Level 3, via @simplewebauthn/server) over the store: registration options
 * and verification, the operator's passkey list, and request-bound assertions for decisions.
 * Challenges are 32 random bytes, single use (the store's compare-and-set), 5 minutes long.
 * User verification is required in both ceremonies.
 */
export function createWebAuthnService(deps: WebAuthnServiceDeps): WebAuthnService {
  const { store, rpId, rpName, origin } = deps;
  const clock = deps.now ?? Date.now;

  const actorOf = async (operatorId: string) => {
    const operator = await store.getOperator(operatorId);
    return `operator:${operator?.name ?? operatorId}`;
  };

  async function refuse(
    input: { operatorId: string; requestId: string | null; now: number },
    reason: RefusalReason,
    code: ErrorCode,
    message: string,
    extra: Record<string, unknown> = {},
    cause?: unknown,
  ): Promise<never> {
    await store.appendAudit(
      {
        type: 'gate.webauthn.refused',
        requestId: input.requestId,
        actor: await actorOf(input.operatorId),
        data: { reason, code, ...extra },
      },
      input.now,
    );
    throw new LoopgateError(code, message, cause === undefined ? undefined : { cause });
  }

  async function issueAssertionOptions(
    operator: OperatorRecord,
    requestId: string | null,
    hint: string,
  ): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const now = clock();
    const usable = (await store.listWebAuthnCredentials(operator.id)).filter(
      (c) => c.flaggedAt === null,
    );
    if (usable.length === 0) {
      throw new LoopgateError(
        'E_WEBAUTHN_NOT_REGISTERED',
        `${operator.name} has no usable passkey. ${hint}`,
      );
    }
    const options = await generateAuthenticationOptions({
      rpID: rpId,
      allowCredentials: usable.map((c) => ({ id: c.id, transports: c.transports })),
      challenge: new Uint8Array(randomBytes(webAuthnChallengeBytes)),
      timeout: webAuthnChallengeTtlMs,
      userVerification: 'required',
    });
    await store.createWebAuthnChallenge({
      challenge: options.challenge,
      operatorId: operator.id,
      purpose: 'authentication',
      requestId,
      expiresAt: now + webAuthnChallengeTtlMs,
    });
    return options;
  }

  return {
    async registrationOptions(operator) {
      const now = clock();
      const existing = await store.listWebAuthnCredentials(operator.id);
      const options = await generateRegistrationOptions({
        rpName,
        rpID: rpId,
        userName: operator.name,
        userDisplayName: operator.name,
        // A stable user handle, so registering the same authenticator twice replaces its
        // discoverable credential instead of adding a second one for the same account.
        userID: new Uint8Array(Buffer.from(operator.id, 'utf8')),
        challenge: new Uint8Array(randomBytes(webAuthnChallengeBytes)),
        timeout: webAuthnChallengeTtlMs,
        attestationType: 'none',
        excludeCredentials: existing.map((c) => ({ id: c.id, transports: c.transports })),
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
      });
      await store.createWebAuthnChallenge({
        challenge: options.challenge,
        operatorId: operator.id,
        purpose: 'registration',
        requestId: null,
        expiresAt: now + webAuthnChallengeTtlMs,
      });
      return options;
    },

    async verifyRegistration(operator, response, name) {
      const now = clock();
      const actor = `operator:${operator.name}`;
      const refuseRegistration = async (
        code: ErrorCode,
        reason: string,
        message: string,
        cause?: unknown,
      ): Promise<never> => {
        await store.appendAudit(
          {
            type: 'gate.webauthn.registration_refused',
            requestId: null,
            actor,
            data: { reason, code },
          },
          now,
        );
        throw new LoopgateError(code, message, cause === undefined ? undefined : { cause });
      };
      const trimmed = name.trim();
      if (trimmed === '' || trimmed.length > maxPasskeyNameLength) {
        return refuseRegistration(
          'E_WEBAUTHN_REGISTRATION_INVALID',
          'name',
          `A passkey name must be 1 to ${maxPasskeyNameLength} characters; got ${trimmed.length}.`,
        );
      }
      const parsed = registrationResponseSchema.safeParse(response);
      if (!parsed.success) {
        return refuseRegistration(
          'E_WEBAUTHN_REGISTRATION_INVALID',
          'malformed',
          'The passkey registration is not the RegistrationResponseJSON a browser returns from navigator.credentials.create().',
        );
      }
      const challenge = readClientDataChallenge(parsed.data.response.clientDataJSON);
      const issued =
        challenge === null
          ? null
          : await store.consumeWebAuthnChallenge(challenge, operator.id, 'registration', now);
      if (!issued) {
        return refuseRegistration(
          'E_WEBAUTHN_CHALLENGE_INVALID',
          'challenge_invalid',
          'The registration challenge is unknown, used already, expired (5 minutes) or not yours. Click "Add a passkey" again.',
        );
      }
      let verification;
      try {
        verification = await verifyRegistrationResponse({
          response: parsed.data as RegistrationResponseJSON,
          expectedChallenge: issued.challenge,
          expectedOrigin: origin,
          expectedRPID: rpId,
          requireUserVerification: true,
        });
      } catch (cause) {
        const detail = cause instanceof Error ? cause.message : String(cause);
        return refuseRegistration(
          'E_WEBAUTHN_REGISTRATION_INVALID',
          'not_verified',
          `The passkey registration does not verify for ${origin} (relying party ${rpId}): ${detail}.`,
          cause,
        );
      }
      if (!verification.verified) {
        return refuseRegistration(
          'E_WEBAUTHN_REGISTRATION_INVALID',
          'not_verified',
          `The passkey registration does not verify for ${origin} (relying party ${rpId}).`,
        );
      }
      const { credential } = verification.registrationInfo;
      if (await store.getWebAuthnCredential(credential.id)) {
        return refuseRegistration(
          'E_WEBAUTHN_REGISTRATION_INVALID',
          'already_registered',
          'This passkey is registered already; each passkey is added once.',
        );
      }
      const record: WebAuthnCredentialRecord = {
        id: credential.id,
        operatorId: operator.id,
        publicKey: credential.publicKey,
        counter: credential.counter,
        transports: parsed.data.response.transports ?? credential.transports ?? [],
        name: trimmed,
        createdAt: now,
        lastUsedAt: null,
        flaggedAt: null,
      };
      await store.saveWebAuthnCredential(record);
      await store.appendAudit(
        {
          type: 'gate.webauthn.registered',
          requestId: null,
          actor,
          data: { credential_id: record.id, name: record.name },
        },
        now,
      );
      return toPasskeyView(record);
    },

    async listCredentials(operator) {
      return (await store.listWebAuthnCredentials(operator.id)).map(toPasskeyView);
    },

    async authenticationOptions(operator, requestId) {
      const now = clock();
      const request = await store.getApproval(requestId);
      if (!request) {
        throw new LoopgateError(
          'E_APPROVAL_NOT_FOUND',
          `No approval request has pause_id "${requestId}".`,
        );
      }
      const status = effectiveStatus(request, now);
      if (status === 'timed_out') {
        throw new LoopgateError(
          'E_APPROVAL_EXPIRED',
          `Request ${requestId} timed out; nothing can be decided any more.`,
        );
      }
      if (status !== 'pending') {
        throw new LoopgateError(
          'E_APPROVAL_ALREADY_DECIDED',
          `Request ${requestId} is no longer pending; one decision wins.`,
        );
      }
      return issueAssertionOptions(
        operator,
        requestId,
        'Add one under Settings, then approve again.',
      );
    },

    async proofOptions(operator) {
      return issueAssertionOptions(
        operator,
        null,
        'Confirm with a code from your authenticator app instead.',
      );
    },

    async verifyAssertion(input) {
      const { operatorId, requestId, now } = input;
      const parsed = authenticationResponseSchema.safeParse(input.response);
      if (!parsed.success) {
        return refuse(
          input,
          'malformed',
          'E_WEBAUTHN_ASSERTION_INVALID',
          'The passkey answer is not the AuthenticationResponseJSON a browser returns from navigator.credentials.get().',
        );
      }
      const assertion = parsed.data as AuthenticationResponseJSON;
      const challenge = readClientDataChallenge(assertion.response.clientDataJSON);
      // Used up before anything else is checked: one challenge, one attempt, whatever its outcome.
      const issued =
        challenge === null
          ? null
          : await store.consumeWebAuthnChallenge(challenge, operatorId, 'authentication', now);
      if (!issued) {
        return refuse(
          input,
          'challenge_invalid',
          'E_WEBAUTHN_CHALLENGE_INVALID',
          'The passkey challenge is unknown, used already, expired (5 minutes) or not yours. Approve again to get a fresh one.',
        );
      }
      if (issued.requestId !== requestId) {
        return refuse(
          input,
          'challenge_other_request',
          'E_WEBAUTHN_CHALLENGE_INVALID',
          requestId === null
            ? `The passkey answer was made for request ${issued.requestId ?? '(none)'}, not to confirm a settings change; use the passkey prompt on the Settings page.`
            : `The passkey answer was made for ${issued.requestId === null ? 'a settings change' : `request ${issued.requestId}`}, not ${requestId}; approve this request on its own page.`,
          { challenge_request_id: issued.requestId },
        );
      }
      const credential = await store.getWebAuthnCredential(assertion.id);
      if (!credential) {
        return refuse(
          input,
          'credential_unknown',
          'E_WEBAUTHN_CREDENTIAL_UNKNOWN',
          'That passkey is not registered here. Use a passkey you added under Settings.',
          { credential_id: assertion.id },
        );
      }
      if (credential.operatorId !== operatorId) {
        return refuse(
          input,
          'credential_other_operator',
          'E_WEBAUTHN_CREDENTIAL_UNKNOWN',
          'That passkey belongs to another operator. Use a passkey you added under Settings.',
          { credential_id: credential.id },
        );
      }
      if (credential.flaggedAt !== null) {
        return refuse(
          input,
          'credential_flagged',
          'E_WEBAUTHN_CREDENTIAL_FLAGGED',
          `The passkey "${credential.name}" was flagged on ${iso(credential.flaggedAt)} because its sign counter went backwards. Register a new passkey under Settings.`,
          { credential_id: credential.id },
        );
      }
      let verification;
      try {
        verification = await verifyAuthenticationResponse({
          response: assertion,
          expectedChallenge: issued.challenge,
          expectedOrigin: origin,
          expectedRPID: rpId,
          // The sign counter is compared below, after the signature verified: the library
          // compares it before, which would let an unsigned answer get a passkey flagged.
          credential: {
            id: credential.id,
            publicKey: new Uint8Array(credential.publicKey),
            counter: 0,
            transports: credential.transports,
          },
          requireUserVerification: true,
        });
      } catch (cause) {
        const detail = cause instanceof Error ? cause.message : String(cause);
        return refuse(
          input,
          'signature_invalid',
          'E_WEBAUTHN_ASSERTION_INVALID',
          `The passkey answer does not verify for ${origin} (relying party ${rpId}): ${detail}.`,
          { credential_id: credential.id },
          cause,
        );
      }
      if (!verification.verified) {
        return refuse(
          input,
          'signature_invalid',
          'E_WEBAUTHN_ASSERTION_INVALID',
          'The passkey signature does not verify against the registered public key.',
          { credential_id: credential.id },
        );
      }
      const newCounter = verification.authenticationInfo.newCounter;
      // WebAuthn Level 3 §6.1.1: a signature counter that is not greater than the stored one
      // (unless both are zero: an authenticator without a counter) signals a cloned authenticator.
      const regressed =
        (newCounter > 0 || credential.counter > 0) && newCounter <= credential.counter;
      const stored =
        !regressed && (await store.updateWebAuthnCounter(credential.id, newCounter, now));
      if (!stored) {
        await store.flagWebAuthnCredential(credential.id, now);
        await store.appendAudit(
          {
            type: 'gate.webauthn.counter_regressed',
            requestId,
            actor: await actorOf(operatorId),
            data: {
              credential_id: credential.id,
              stored_counter: credential.counter,
              presented_counter: newCounter,
            },
          },
          now,
        );
        return refuse(
          input,
          'counter_regressed',
          'E_WEBAUTHN_COUNTER_REGRESSED',
          `The passkey "${credential.name}" reported sign counter ${newCounter}, not above the ${credential.counter} seen before: it may have been cloned, so it is now flagged. Register a new passkey under Settings.`,
          {
            credential_id: credential.id,
            stored_counter: credential.counter,
            presented_counter: newCounter,
          },
        );
      }
      await store.appendAudit(
        {
          type: 'gate.webauthn.accepted',
          requestId,
          actor: await actorOf(operatorId),
          data: { credential_id: credential.id, counter: newCounter },
        },
        now,
      );
      return { credentialId: credential.id };
    },
  };
}
