/**
 * Redaction shared by every log sink: the process log (cli/logger.ts) and the MCP log
 * notifications a client receives (mcp/clientLog.ts), so both blank the same secrets.
 */

/**
 * Property names whose values never reach a log line, at any depth (compared case-insensitively):
 * credentials, session secrets, second factors, WebAuthn challenges and receipts.
 */
export const redactedKeys: ReadonlySet<string> = new Set(
  [
    'authorization',
    'cookie',
    'set-cookie',
    'token',
    'apiKey',
    'api_key',
    'key',
    'secret',
    'signingSecret',
    'csrf_token',
    'x-csrf-token',
    'session_secret',
    'x-loopgate-session',
    'receipt',
    'code',
    'totp_code',
    'otp',
    'challenge',
    'password',
    'databaseUrl',
    'database_url',
    'connectionString',
  ].map((k) => k.toLowerCase()),
);

const censor = '[redacted]';
const maxDepth = 10;

/**
 * A copy of `value` with every property named in {@link redactedKeys} replaced by
 * `"[redacted]"`, however deeply nested (objects and arrays; past 10 levels the rest is
 * replaced too, so nothing unchecked is logged). Errors keep their message and stack.
 */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || value instanceof Error) return value;
  if (depth >= maxDepth) return censor;
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [name, item] of Object.entries(value)) {
    out[name] = redactedKeys.has(name.toLowerCase()) ? censor : redactSecrets(item, depth + 1);
  }
  return out;
}
