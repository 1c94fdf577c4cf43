/*
 * WebAuthn settings that do not need @simplewebauthn/server (which costs about half a second of
 * CPU to import), so the server can start without loading it.
 */

/**
 * How long a challenge may be answered: 5 minutes, in ms. WebAuthn Level 3 §5.4.5 / §5.5
 * recommend a ceremony timeout of 300 000 ms for user verification "required".
 */
export const webAuthnChallengeTtlMs = 5 * 60_000;

/**
 * Bytes of randomness per challenge. WebAuthn Level 3 §13.4.3: "challenges SHOULD therefore be
 * at least 16 bytes long"; 32 leaves a wide margin.
 */
export const webAuthnChallengeBytes = 32;

/** The longest passkey name an operator may give, in characters. */
export const maxPasskeyNameLength = 64;

/** The relying party of a server reachable at some public URL. */
export interface RelyingParty {
  /** RP ID: the host name of the public URL (WebAuthn Level 3 §5.1.2 / §6.1.1). */
  rpId: string;
  /** The exact origin pages are served from, e.g. `http://localhost:7878`. */
  origin: string;
}

/**
 * The relying party id and origin of a server whose humans open `publicUrl` (`--public-url`):
 * RP ID = its host name, origin = its origin. Note that browsers refuse IP addresses as RP IDs,
 * so passkeys need a host name (`localhost` on one machine).
 * @throws TypeError when `publicUrl` is not an absolute URL
 */
export function relyingPartyFromPublicUrl(publicUrl: string): RelyingParty {
  const url = new URL(publicUrl);
  return { rpId: url.hostname.replace(/^\[|\]$/g, ''), origin: url.origin };
}
