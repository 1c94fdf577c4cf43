import { LoopgateError } from '../core/errors.js';
import type { Store } from '../store/store.js';
import type { OperatorRecord, SessionRecord } from '../core/records.js';
import type { TotpStepUp, WebAuthnStepUpVerifier } from './stepUp.js';

/** A current factor the operator shows before adding or replacing one. */
export interface FactorProof {
  /** A code from the operator's current authenticator app (checked through the TOTP throttle). */
  totpCode?: string;
  /** A passkey assertion (AuthenticationResponseJSON) made for a factor-proof challenge. */
  webauthn?: unknown;
}

/** The factor about to be added or replaced. */
export type FactorChange = 'totp' | 'passkey';

/** How a factor change was allowed: by a current factor, or as a first factor from an invite. */
export type FactorChangeGrant = 'totp' | 'passkey' | 'invite';

/** A factor added or replaced recently, for the notice on Settings and the inbox. Times in ms. */
export interface FactorChangeNotice {
  kind: FactorChange;
  /** The passkey's name; null for the authenticator app. */
  name: string | null;
  at: number;
}

/** Factor changes newer than this are shown as notices: 14 days. */
export const factorNoticeWindowMs = 14 * 24 * 3_600_000;

/**
 * Who may add or replace a second factor (TOTP or passkey) from a browser session. A session
 * alone is never enough once a factor exists, or step-up would be no stronger than the
 * session cookie:
 * - an operator who has a TOTP or an unflagged passkey must prove one of them in the same flow;
 * - an operator with none may add the first one only from a session made from an invite link
 *   (`loopgate operators invite`) or `loopgate login-url --enroll`, never from a plain
 *   sign-in link; `loopgate totp enroll` on the machine is the other way in.
 * Every refusal is audited (`operator.factor_change_refused`).
 */
export class FactorChangeGuard {
  readonly #store: Store;
  readonly #totp: TotpStepUp | null;
  readonly #passkeys: WebAuthnStepUpVerifier | null;
  readonly #now: () => number;

  constructor(deps: {
    store: Store;
    totp: TotpStepUp | null;
    passkeys: WebAuthnStepUpVerifier | null;
    now?: () => number;
  }) {
    this.#store = deps.store;
    this.#totp = deps.totp;
    this.#passkeys = deps.passkeys;
    this.#now = deps.now ?? Date.now;
  }

  /**
   * Allows `operator` (signed in with `session`) to add or replace a `change` factor, or throws.
   * A TOTP code counts against the operator's throttle like any other (a locked TOTP proves
   * nothing); a passkey assertion must answer a challenge from the factor-proof options.
   * @throws LoopgateError E_FACTOR_PROOF_REQUIRED, E_FACTOR_FIRST_NEEDS_INVITE, and the
   *   E_TOTP_* / E_WEBAUTHN_* codes of a proof that does not verify
   */
  async authorize(
    operator: OperatorRecord,
    session: Pick<SessionRecord, 'source'>,
    proof: FactorProof,
    change: FactorChange,
  ): Promise<FactorChangeGrant> {
    const totp = await this.#store.getTotpEnrollment(operator.id);
    // A flagged passkey (its counter went backwards) proves nothing, so it does not count.
    const passkeys = (await this.#store.listWebAuthnCredentials(operator.id)).filter(
      (p) => p.flaggedAt === null,
    );
    if (totp === null && passkeys.length === 0) {
      if (session.source === 'invite' || session.source === 'enroll') return 'invite';
      await this.#refuse(operator, change, 'first_factor_from_sign_in_link');
      throw new LoopgateError(
        'E_FACTOR_FIRST_NEEDS_INVITE',
        `${operator.name} has no second factor yet, and this session came from a plain sign-in link. Open an invite link (\`loopgate operators invite\`) or one from \`loopgate login-url --enroll\`, or run \`loopgate totp enroll --operator ${operator.name}\` on the server's machine.`,
      );
    }
    if (proof.totpCode !== undefined && totp !== null && this.#totp) {
      await this.#totp.verify(operator, proof.totpCode, null);
      return 'totp';
    }
    if (proof.webauthn !== undefined && passkeys.length > 0 && this.#passkeys) {
      await this.#passkeys.verifyAssertion({
        operatorId: operator.id,
        requestId: null,
        response: proof.webauthn,
        now: this.#now(),
      });
      return 'passkey';
    }
    await this.#refuse(operator, change, 'no_current_factor');
    const held = [
      totp !== null ? 'a code from your current authenticator app (current_totp_code)' : null,
      passkeys.length > 0 ? 'one of your passkeys (current_webauthn)' : null,
    ]
      .filter((x) => x !== null)
      .join(' or ');
    const what =
      change === 'passkey'
        ? 'add a passkey'
        : totp !== null
          ? 'replace your authenticator'
          : 'set up an authenticator';
    throw new LoopgateError(
      'E_FACTOR_PROOF_REQUIRED',
      `To ${what}, first confirm it is you with ${held}.`,
    );
  }

  /** Factors of `operator` added or replaced within {@link factorNoticeWindowMs}, newest first. */
  async recentChanges(operator: OperatorRecord): Promise<FactorChangeNotice[]> {
    const since = this.#now() - factorNoticeWindowMs;
    const totp = await this.#store.getTotpEnrollment(operator.id);
    const notices: FactorChangeNotice[] = (
      await this.#store.listWebAuthnCredentials(operator.id)
    ).map((p) => ({
      kind: 'passkey' as const,
      name: p.name,
      at: p.createdAt,
    }));
    if (totp) notices.push({ kind: 'totp', name: null, at: totp.enrolledAt });
    return notices.filter((n) => n.at >= since).sort((a, b) => b.at - a.at);
  }

  async #refuse(operator: OperatorRecord, change: FactorChange, reason: string): Promise<void> {
    await this.#store.appendAudit(
      {
        type: 'operator.factor_change_refused',
        requestId: null,
        actor: `operator:${operator.name}`,
        data: { change, reason },
      },
      this.#now(),
    );
  }
}
