import { LoopgateError } from '../core/errors.js';
import {
  claimOtpArgumentAttempt,
  clearOtpArgumentThrottle,
  type OtpArgumentClaim,
} from '../gates/otpArgumentThrottle.js';
import { verifyTotpCode, type TotpVerification } from '../gates/totpCode.js';
import { buildTotpUri, createTotpSecret } from '../gates/totpSecret.js';
import { decryptTotpSecret, encryptTotpSecret } from '../gates/totpSecretEncryption.js';
import {
  attemptTotpCode,
  describeTotpRefusal,
  unlockTotp,
  type TotpAttempt,
} from '../gates/totpThrottle.js';
import type { Store } from '../store/store.js';
import type { OperatorRecord } from '../core/records.js';

/** Verifies passkey assertions for decisions (built in gates/webauthn.ts). */
export interface WebAuthnStepUpVerifier {
  /**
   * Verifies a passkey assertion made for `requestId` by `operatorId` (throws LoopgateError);
   * `requestId` null is an assertion that proves a factor before a factor change.
   */
  verifyAssertion(input: {
    operatorId: string;
    requestId: string | null;
    response: unknown;
    now: number;
  }): Promise<{ credentialId: string }>;
}

/** What a human adds to an approval when the gate asks for it. */
export interface StepUpInput {
  totpCode?: string;
  webauthn?: unknown;
}

/** A TOTP enrolment in progress: shown to the operator, confirmed with a first code. */
export interface TotpEnrollmentStart {
  uri: string;
  qrDataUrl: string;
  qrTerminal: string;
  /** The new secret, encrypted for this operator; handed back with the confirming code. */
  enrollmentToken: string;
}

const pendingContext = (operatorId: string) => `pending-enrolment:${operatorId}`;

/** How long an enrolment begun in Settings may be confirmed: 10 minutes. */
export const totpEnrollmentTtlMs = 10 * 60_000;

/** Who stored a TOTP secret: the web Settings flow or the CLI on the machine. */
export type TotpEnrollmentVia = 'settings' | 'cli';

/**
 * TOTP for operators (RFC 6238: SHA-1, 6 digits, 30 s, ±1 step): enrolment, the step-up check
 * at decision time, and an admin's unlock. Secrets are encrypted at rest with `key`; every
 * attempt runs in one store transaction with the operator's throttle state, so a code works
 * once (even across restarts) and parallel submissions of one code accept exactly one.
 */
export class TotpStepUp {
  readonly #store: Store;
  readonly #key: Uint8Array;
  readonly #now: () => number;

  constructor(store: Store, key: Uint8Array, now: () => number = Date.now) {
    this.#store = store;
    this.#key = key;
    this.#now = now;
  }

  /**
   * Starts enrolment: a new ≥160-bit secret as an `otpauth://` URI and QR code. Nothing is
   * stored yet; the enrolment token can be confirmed for {@link totpEnrollmentTtlMs}. Callers
   * in the web flow check the operator's current factor first (service/factorChange.ts).
   */
  async beginEnrollment(operator: OperatorRecord): Promise<TotpEnrollmentStart> {
    const secret = createTotpSecret();
    const expiresAt = this.#now() + totpEnrollmentTtlMs;
    const uri = buildTotpUri({ secret, account: operator.name });
    const { renderTotpQr } = await import('../gates/totpQr.js');
    const qr = await renderTotpQr(uri);
    return {
      uri,
      qrDataUrl: qr.dataUrl,
      qrTerminal: qr.terminal,
      enrollmentToken: encryptTotpSecret(
        `${secret}.${expiresAt}`,
        this.#key,
        pendingContext(operator.id),
      ),
    };
  }

  /**
   * Finishes enrolment once the operator's app shows a matching code; replaces any earlier
   * secret (a lock stays).
   * @throws LoopgateError E_TOTP_CODE_MALFORMED, E_TOTP_CODE_INVALID, E_TOTP_SECRET_UNREADABLE,
   *   E_TOTP_ENROLLMENT_EXPIRED (a token older than {@link totpEnrollmentTtlMs})
   */
  async confirmEnrollment(
    operator: OperatorRecord,
    enrollmentToken: string,
    code: string,
  ): Promise<void> {
    const [secret = '', expiresAt = '0'] = decryptTotpSecret(
      enrollmentToken,
      this.#key,
      pendingContext(operator.id),
    ).split('.');
    const now = this.#now();
    if (Number(expiresAt) <= now) {
      throw new LoopgateError(
        'E_TOTP_ENROLLMENT_EXPIRED',
        'That enrolment was begun more than 10 minutes ago; begin again under Settings.',
      );
    }
    this.checkFirstCode(secret, code, now);
    await this.enroll(operator, secret, 'settings', now);
  }

  /**
   * Checks that `code` is what an app holding the new `secret` shows at `now` (RFC 6238, ±1
   * step): proof that the human scanned it before it replaces anything.
   * @throws LoopgateError E_TOTP_CODE_MALFORMED, E_TOTP_CODE_INVALID
   */
  checkFirstCode(secret: string, code: string, now = this.#now()): void {
    const result = verifyTotpCode({ secret, code, now, lastUsedStep: null });
    if (!result.ok) {
      throw new LoopgateError(
        result.reason === 'malformed' ? 'E_TOTP_CODE_MALFORMED' : 'E_TOTP_CODE_INVALID',
        result.reason === 'malformed'
          ? `Enter the 6 digits your authenticator app shows for loopgate; got ${code.trim().length} characters.`
          : 'That code does not match the new secret: check the phone’s clock and scan the QR code again.',
      );
    }
  }

  /**
   * Stores `secret` (base32) as the operator's TOTP, encrypted, and audits it
   * (`gate.totp.enrolled` with `replaced` and `via`). A lock on an earlier secret stays: only
   * {@link unlock} clears it. Used by `loopgate totp enroll` and {@link confirmEnrollment}.
   */
  async enroll(
    operator: OperatorRecord,
    secret: string,
    via: TotpEnrollmentVia = 'cli',
    now = this.#now(),
  ): Promise<void> {
    const replaced = (await this.#store.getTotpEnrollment(operator.id)) !== null;
    await this.#store.saveTotpEnrollment({
      operatorId: operator.id,
      secretEncrypted: encryptTotpSecret(secret, this.#key, operator.id),
      enrolledAt: now,
    });
    await this.#store.appendAudit(
      {
        type: 'gate.totp.enrolled',
        requestId: null,
        actor: via === 'cli' ? 'cli' : `operator:${operator.name}`,
        data: { operator: operator.name, replaced, via },
      },
      now,
    );
  }

  /** Whether the operator has a TOTP, and whether it is locked. */
  async status(
    operator: OperatorRecord,
  ): Promise<{ enrolled: boolean; locked: boolean; enrolledAt: number | null }> {
    const row = await this.#store.getTotpEnrollment(operator.id);
    return {
      enrolled: row !== null,
      locked: row?.state.lockedAt != null,
      enrolledAt: row?.enrolledAt ?? null,
    };
  }

  /**
   * Checks a code for a decision on `requestId` (null: to prove the factor before a factor
   * change), through the same throttle. Accepted → resolves. Otherwise throws with what to do
   * next; `voidRequest` is true when the request at hand must be voided (5 wrong codes, or a
   * lock). Every attempt is audited.
   * @throws LoopgateError E_TOTP_NOT_ENROLLED, E_TOTP_CODE_MALFORMED, E_TOTP_CODE_INVALID,
   *   E_TOTP_REPLAYED, E_TOTP_REQUEST_VOIDED, E_TOTP_LOCKED
   */
  async verify(
    operator: Pick<OperatorRecord, 'id' | 'name'>,
    code: string,
    requestId: string | null,
  ): Promise<void> {
    const now = this.#now();
    const attempt = await this.#store.updateTotpState<TotpAttempt>(operator.id, (row) => {
      const secret = decryptTotpSecret(row.secretEncrypted, this.#key, operator.id);
      const result = attemptTotpCode({ secret, code, state: row.state, now });
      return { state: result.state, result };
    });
    if (attempt === null) {
      throw new LoopgateError(
        'E_TOTP_NOT_ENROLLED',
        `${operator.name} has no authenticator set up. Set one up under Settings (or \`loopgate totp enroll --operator ${operator.name}\`), then approve again.`,
      );
    }
    const refusal = describeTotpRefusal(attempt);
    await this.#store.appendAudit(
      {
        type: refusal ? 'gate.totp.refused' : 'gate.totp.accepted',
        requestId,
        actor: `operator:${operator.name}`,
        data: refusal
          ? { outcome: attempt.outcome, reason: attempt.reason }
          : { time_step: attempt.timeStep },
      },
      now,
    );
    if (refusal)
      throw new LoopgateError(refusal.code, refusal.message, {
        cause: { voidRequest: attempt.outcome !== 'refused' },
      });
  }

  /**
   * Checks a TOTP code an agent passed as a tool argument (gate `otp_argument`) against
   * `operator`'s authenticator, throttled per caller: `subject` is the gateway key
   * (`key:<id>`) or in-process gateway (`agent:<name>`) that sent it. A refused code counts
   * against the caller only — never against the operator's own step-up, which a stranger's
   * guesses must not lock, nor void their pending request. An accepted code becomes the
   * operator's last used time step, so each code still works once anywhere. A locked
   * operator TOTP accepts nothing here either. Every checked attempt is audited.
   * @throws LoopgateError E_TOTP_CODE_MALFORMED, E_TOTP_NOT_ENROLLED, E_TOTP_LOCKED,
   *   E_TOTP_CODE_INVALID, E_TOTP_REPLAYED, E_GATEWAY_OTP_THROTTLED
   */
  async verifyOtpArgument(
    operator: Pick<OperatorRecord, 'id' | 'name'>,
    code: string,
    subject: string,
    tool: string,
  ): Promise<void> {
    // Not 6 digits tests nothing about the secret: refused without counting.
    if (typeof code !== 'string' || !/^[0-9]{6}$/.test(code.replace(/\s+/g, ''))) {
      throw new LoopgateError(
        'E_TOTP_CODE_MALFORMED',
        `The "otp" argument must be the 6 digits the authenticator app shows; got ${JSON.stringify(String(code).slice(0, 20))}.`,
      );
    }
    const now = this.#now();
    const claim = await this.#store.updateOtpArgumentThrottle<OtpArgumentClaim>(
      subject,
      (state) => {
        const claimed = claimOtpArgumentAttempt(state, now);
        return { state: claimed.state, result: claimed };
      },
    );
    if (!claim.ok) {
      throw new LoopgateError(
        'E_GATEWAY_OTP_THROTTLED',
        `Too many wrong "otp" arguments from this gateway: no code is checked until ${new Date(claim.blockedUntil).toISOString()}. Ask the human for a fresh code and call again after that.`,
      );
    }
    const checked = await this.#store.updateTotpState<
      { locked: true } | { locked: false; result: TotpVerification }
    >(operator.id, (row) => {
      if (row.state.lockedAt !== null) return { state: row.state, result: { locked: true } };
      const secret = decryptTotpSecret(row.secretEncrypted, this.#key, operator.id);
      const result = verifyTotpCode({ secret, code, now, lastUsedStep: row.state.lastUsedStep });
      // Only an accepted code touches the operator's row (its step is spent); the counters
      // that void requests and lock the authenticator are the human's own.
      return {
        state: result.ok ? { ...row.state, lastUsedStep: result.timeStep } : row.state,
        result: { locked: false, result },
      };
    });
    if (checked === null) {
      throw new LoopgateError(
        'E_TOTP_NOT_ENROLLED',
        `${operator.name}, whose authenticator checks "otp" arguments, has none set up (\`loopgate totp enroll --operator ${operator.name}\`).`,
      );
    }
    if (checked.locked) {
      throw new LoopgateError(
        'E_TOTP_LOCKED',
        `${operator.name}'s authenticator is locked; an admin must unlock it before any "otp" argument is accepted.`,
      );
    }
    const verification = checked.result;
    if (verification.ok) {
      await this.#store.updateOtpArgumentThrottle(subject, () => ({
        state: clearOtpArgumentThrottle(),
        result: null,
      }));
    }
    await this.#store.appendAudit(
      {
        type: verification.ok ? 'gate.otp_argument.accepted' : 'gate.otp_argument.refused',
        requestId: null,
        actor: subject,
        data: verification.ok
          ? { tool, operator: operator.name, time_step: verification.timeStep }
          : { tool, operator: operator.name, reason: verification.reason },
      },
      now,
    );
    if (verification.ok) return;
    const left =
      claim.failuresLeft > 0
        ? `${claim.failuresLeft} more wrong codes and this gateway must wait before the next check.`
        : 'This gateway must now wait before the next check.';
    if (verification.reason === 'replayed') {
      throw new LoopgateError(
        'E_TOTP_REPLAYED',
        `That "otp" code was used already; each code works once. Ask the human for the next code. ${left}`,
      );
    }
    throw new LoopgateError(
      'E_TOTP_CODE_INVALID',
      `That "otp" code is wrong. Ask the human for the code their authenticator app shows now. ${left}`,
    );
  }

  /**
   * An admin clears an operator's TOTP lock and failure counts.
   * @throws LoopgateError E_TOTP_NOT_ENROLLED
   */
  async unlock(operator: OperatorRecord, admin: string): Promise<void> {
    const done = await this.#store.updateTotpState(operator.id, (row) => ({
      state: unlockTotp(row.state),
      result: true,
    }));
    if (!done)
      throw new LoopgateError(
        'E_TOTP_NOT_ENROLLED',
        `${operator.name} has no authenticator set up.`,
      );
    await this.#store.appendAudit(
      {
        type: 'gate.totp.unlocked',
        requestId: null,
        actor: admin,
        data: { operator: operator.name },
      },
      this.#now(),
    );
  }
}

/** True when a TOTP refusal means the request at hand must be voided. */
export function mustVoidRequest(err: unknown): boolean {
  return (
    err instanceof LoopgateError &&
    (err.cause as { voidRequest?: boolean } | undefined)?.voidRequest === true
  );
}

/**
 * Whose authenticator `otp` arguments are checked against: the operator the proxy was started
 * with (`--otp-operator`), else the first admin.
 * @throws LoopgateError E_OPERATOR_NOT_FOUND
 */
export async function findOtpOperator(
  store: Store,
  name: string | undefined,
): Promise<OperatorRecord> {
  const operator = name
    ? await store.getOperatorByName(name)
    : (await store.listOperators()).find((o) => o.role === 'admin');
  if (!operator) {
    throw new LoopgateError(
      'E_OPERATOR_NOT_FOUND',
      `No operator "${name ?? 'admin'}" to check otp arguments against; see \`loopgate operators list\`.`,
    );
  }
  return operator;
}
