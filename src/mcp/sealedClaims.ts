import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Seals a JSON object into a token `<prefix>.<base64url JSON>.<base64url MAC>`, and opens it. */
export interface ClaimSealer {
  seal(claims: Record<string, unknown>): string;
  /** The claims of a token this sealer made and no one changed; undefined for any other string. */
  open(token: string): Record<string, unknown> | undefined;
}

/**
 * Makes a {@link ClaimSealer}: the MAC is HMAC-SHA256 (RFC 2104) over `<prefix>.<body>` under a
 * key derived from `secret` with `label`, so tokens of one label never pass for another's (nor
 * for a receipt's `sha256=` HMAC). Without `secret`, a random per-process key: tokens then only
 * open in the process that made them. Claims are readable by whoever holds the token: they
 * carry nothing the holder may not see.
 */
export function createClaimSealer(options: {
  prefix: string;
  label: string;
  secret?: string | undefined;
}): ClaimSealer {
  const key = createHmac('sha256', options.secret ?? randomBytes(32))
    .update(options.label)
    .digest();
  const mac = (body: string) =>
    createHmac('sha256', key).update(`${options.prefix}.${body}`).digest();
  return {
    seal(claims) {
      const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
      return `${options.prefix}.${body}.${mac(body).toString('base64url')}`;
    },
    open(token) {
      const [prefix, body, tag, ...rest] = token.split('.');
      if (prefix !== options.prefix || !body || !tag || rest.length > 0) return undefined;
      const given = Buffer.from(tag, 'base64url');
      const expected = mac(body);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
      try {
        const claims: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
        return claims !== null && typeof claims === 'object' && !Array.isArray(claims)
          ? (claims as Record<string, unknown>)
          : undefined;
      } catch {
        return undefined;
      }
    },
  };
}
