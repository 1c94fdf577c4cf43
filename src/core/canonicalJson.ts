import canonicalize from 'canonicalize';

/**
 * Serialises a JSON value in the JSON Canonicalization Scheme (RFC 8785): object members sorted
 * by UTF-16 code units, no insignificant white space, ECMAScript number formatting (§3.2.2.3).
 *
 * @param value any JSON-representable value (no `undefined`, functions, `NaN` or `Infinity`).
 * @returns the canonical UTF-8 text.
 * @throws TypeError when `value` is not representable in JSON.
 */
export function canonicalizeJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined)
    throw new TypeError('canonicalizeJson: value is not representable as JSON');
  return text;
}
