import type { Validation } from './errors.js';

/**
 * Checks a server's internal URL (where the other servers of a deployment reach it, for
 * handoff forwarding): `http://host:port` and nothing else — no credentials, path, query or
 * fragment — so a forwarded request can only ever go to a host and port. Plain HTTP because
 * forwarding pipes raw sockets; keep the servers on a private network.
 *
 * @returns the parsed URL (its `origin` is the canonical form), or `E_CONFIG_INVALID` with why
 */
export function parseInternalUrl(text: string): Validation<URL> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return invalid(text, 'it is not a URL');
  }
  if (url.protocol !== 'http:') return invalid(text, `its scheme is ${url.protocol}`);
  if (url.username || url.password) return invalid(text, 'it carries credentials');
  if (url.pathname !== '/' || url.search || url.hash || text.endsWith('?') || text.endsWith('#'))
    return invalid(text, 'it has a path, query or fragment');
  if (!url.hostname) return invalid(text, 'it names no host');
  return { ok: true, value: url };
}

function invalid(text: string, why: string): Validation<URL> {
  return {
    ok: false,
    code: 'E_CONFIG_INVALID',
    message: `"${text}" is not an internal URL (${why}); expected http://host:port.`,
  };
}
