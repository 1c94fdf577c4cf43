import { Secret, TOTP } from 'otpauth';

/** HMAC algorithms RFC 6238 §1.2 allows for TOTP; loopgate enrols with `SHA1` only. */
export type TotpAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

/**
 * The parameters every loopgate enrolment uses: SHA-1, 6 digits, 30-second time steps
 * (RFC 6238 §4 and §5.2; the values every authenticator app supports), a 160-bit secret
 * (RFC 4226 §4 R6 asks for at least 128 and recommends 160) and a window of ±1 time step
 * (RFC 6238 §5.2: "at most one time step is allowed as the network delay").
 */
export const totpParameters = {
  algorithm: 'SHA1',
  digits: 6,
  periodSeconds: 30,
  secretBytes: 20,
  windowSteps: 1,
} as const satisfies {
  algorithm: TotpAlgorithm;
  digits: number;
  periodSeconds: number;
  secretBytes: number;
  windowSteps: number;
};

/**
 * Creates a fresh TOTP shared secret from the platform CSPRNG.
 *
 * @returns the secret as RFC 4648 base32 without padding (32 characters for 160 bits), the
 *   form authenticator apps and {@link buildTotpUri} expect. It is key material: encrypt it
 *   at rest with `encryptTotpSecret` and never log it.
 */
export function createTotpSecret(): string {
  return new Secret({ size: totpParameters.secretBytes }).base32;
}

/**
 * Builds the `otpauth://totp/…` URI an authenticator app enrols from (the Key Uri Format of
 * Google Authenticator, which every app follows): label `issuer:account`, with `secret`,
 * `issuer`, `algorithm=SHA1`, `digits=6`, `period=30`.
 *
 * @param input.secret base32 secret from {@link createTotpSecret}.
 * @param input.account the operator's name, shown in the app under the issuer.
 * @param input.issuer shown in the app; `loopgate` unless a deployment names itself.
 * @throws TypeError when `secret` is not base32.
 */
export function buildTotpUri(input: { secret: string; account: string; issuer?: string }): string {
  return new TOTP({
    issuer: input.issuer ?? 'loopgate',
    label: input.account,
    secret: Secret.fromBase32(input.secret),
    algorithm: totpParameters.algorithm,
    digits: totpParameters.digits,
    period: totpParameters.periodSeconds,
  }).toString();
}
