import { decodeBase64url, encodeBase64url } from './base64url.js';

/** Bytes of randomness in a fresh session secret: 256 bits (the protocol needs ≥ 128). */
export const fragmentSecretBytes = 32;

/**
 * A fresh session secret `k` as unpadded base64url (43 characters), from the platform CSPRNG
 * (`crypto.getRandomValues`). Put it in the session URL's fragment: `…#k=<secret>`.
 */
export function generateFragmentSecret(): string {
  const bytes = new Uint8Array(fragmentSecretBytes);
  globalThis.crypto.getRandomValues(bytes);
  return encodeBase64url(bytes);
}

/**
 * Reads `k` from a URL fragment such as `location.hash` (`#k=…`, other `&`-separated
 * parameters allowed). Returns the base64url text, or null when there is no well-formed `k`
 * of at least 128 bits. The fragment never reaches a server (RFC 3986 §3.5).
 */
export function readFragmentSecret(hash: string): string | null {
  const params = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
  const k = params.get('k');
  if (!k) return null;
  const bytes = decodeBase64url(k);
  return bytes && bytes.length >= 16 ? k : null;
}
