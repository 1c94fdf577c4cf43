import { timingSafeEqual } from 'node:crypto';
import { HOTP, Secret } from 'otpauth';
import { totpParameters, type TotpAlgorithm } from './totpSecret.js';

/** Why a code was refused: not N digits, not the code of any step in the window, or used up. */
export type TotpFailureReason = 'malformed' | 'wrong' | 'replayed';

/**
 * The result of {@link verifyTotpCode}. `timeStep` is the RFC 6238 §4.2 counter T the code
 * belongs to (seconds since the Unix epoch divided by 30, floored); store it as the operator's
 * last used step so the same code, or an older one, is refused next time.
 */
export type TotpVerification =
  { ok: true; timeStep: number } | { ok: false; reason: TotpFailureReason };

/** Overrides of {@link totpParameters}, for the RFC 6238 Appendix B vectors and for tests. */
export type TotpOptions = {
  /** HMAC algorithm (RFC 6238 §1.2). Default `SHA1`. */
  algorithm?: TotpAlgorithm;
  /** Code length, 6 to 8 digits (RFC 4226 §5.3). Default 6. */
  digits?: number;
  /** Time step X in seconds (RFC 6238 §4.1). Default 30. */
  periodSeconds?: number;
};

function toMilliseconds(now: number | Date | undefined): number {
  if (now === undefined) return Date.now();
  return typeof now === 'number' ? now : now.getTime();
}

/**
 * The RFC 6238 §4.2 time step at `now`: `floor((unixSeconds − T0) / X)` with T0 = 0.
 *
 * @param now milliseconds since the Unix epoch or a Date; default the current time.
 * @param periodSeconds X, default 30.
 */
export function computeTotpTimeStep(
  now?: number | Date,
  periodSeconds: number = totpParameters.periodSeconds,
): number {
  return Math.floor(toMilliseconds(now) / 1000 / periodSeconds);
}

/**
 * The code an authenticator shows for `secret` at `now` (RFC 6238 §4.2: HOTP of the time
 * step, RFC 4226 §5.3 dynamic truncation). For enrolment checks and tests; never log it.
 *
 * @param input.secret base32 secret.
 * @param input.now milliseconds since the epoch or a Date; default the current time.
 * @param input.timeStep the time step to use instead of `now`.
 * @returns the zero-padded decimal code, `digits` long.
 * @throws TypeError when `secret` is not base32.
 */
export function generateTotpCode(
  input: { secret: string; now?: number | Date; timeStep?: number } & TotpOptions,
): string {
  const periodSeconds = input.periodSeconds ?? totpParameters.periodSeconds;
  return HOTP.generate({
    secret: Secret.fromBase32(input.secret),
    algorithm: input.algorithm ?? totpParameters.algorithm,
    digits: input.digits ?? totpParameters.digits,
    counter: input.timeStep ?? computeTotpTimeStep(input.now, periodSeconds),
  });
}

/**
 * Checks a code a human typed against the operator's secret (RFC 6238 §5.2).
 *
 * - Whitespace is ignored (apps show `123 456`); anything but exactly `digits` digits is
 *   `malformed`.
 * - The window is exactly ±1 time step around `now` — RFC 6238 §5.2 recommends "at most one
 *   time step" of allowed delay; a wider window only helps a guesser.
 * - Each code works once (§5.2: "the verifier MUST NOT accept the second attempt of the OTP
 *   after the successful validation has been issued for the first OTP"): a code whose time
 *   step is ≤ `lastUsedStep` is `replayed`, so `code(T−1)` after `code(T)` is refused too.
 * - The three candidate codes are all computed and compared with `timingSafeEqual`, so the
 *   time taken does not tell which step matched or how many digits were right.
 *
 * Pure: the caller stores `timeStep` as the new last used step in the same transaction that
 * accepts the code (see `applyTotpAttempt`), which is what makes a replay fail after a restart.
 *
 * @param input.secret base32 secret (decrypted with `decryptTotpSecret`).
 * @param input.code what the human typed.
 * @param input.now milliseconds since the epoch or a Date; default the current time.
 * @param input.lastUsedStep the time step of the operator's last accepted code, or null.
 * @throws TypeError when `secret` is not base32 (a corrupt store row, not a user error).
 */
export function verifyTotpCode(
  input: {
    secret: string;
    code: string;
    now?: number | Date;
    lastUsedStep: number | null;
  } & TotpOptions,
): TotpVerification {
  const digits = input.digits ?? totpParameters.digits;
  const periodSeconds = input.periodSeconds ?? totpParameters.periodSeconds;
  const secret = Secret.fromBase32(input.secret);
  const typed = typeof input.code === 'string' ? input.code.replace(/\s+/g, '') : '';
  if (!new RegExp(`^[0-9]{${digits}}$`).test(typed)) return { ok: false, reason: 'malformed' };

  const typedBytes = Buffer.from(typed, 'ascii');
  const current = computeTotpTimeStep(input.now, periodSeconds);
  let newest: number | null = null;
  let matchedAny = false;
  for (
    let step = current - totpParameters.windowSteps;
    step <= current + totpParameters.windowSteps;
    step++
  ) {
    const expected = HOTP.generate({
      secret,
      algorithm: input.algorithm ?? totpParameters.algorithm,
      digits,
      counter: step,
    });
    // Same length by construction (both `digits` ASCII digits), as timingSafeEqual requires.
    const equal = timingSafeEqual(typedBytes, Buffer.from(expected, 'ascii'));
    matchedAny = matchedAny || equal;
    // Two steps can share a code (1 in 10^6); prefer the newest one not used yet.
    if (equal && (input.lastUsedStep === null || step > input.lastUsedStep)) newest = step;
  }
  if (newest !== null) return { ok: true, timeStep: newest };
  return { ok: false, reason: matchedAny ? 'replayed' : 'wrong' };
}
