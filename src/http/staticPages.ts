import { readFileSync, existsSync, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { LoopgateError } from '../core/errors.js';
import type { AppEnv } from './appEnv.js';

/** The Content-Security-Policy of every page: no inline script or style, no framing. */
export const contentSecurityPolicy =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
};

/** The folder with the web UI (`web/` at the package root, next to `src/` and `dist/`). */
export const webRoot = fileURLToPath(new URL('../../web/', import.meta.url));

/** The file below `root` that `relative` names, or null for a path that climbs out of it. */
function resolveBelow(root: string, relative: string): string | null {
  const path = normalize(join(root, relative));
  return path.startsWith(root.endsWith(sep) ? root : root + sep) ? path : null;
}

/** Reads a file, or null when there is no such file. */
function readFile(path: string): Buffer | null {
  if (!existsSync(path) || !statSync(path).isFile()) return null;
  return readFileSync(path);
}

/** At most this many files are kept in memory; the web UI has a few dozen. */
const maxCachedFiles = 256;

/**
 * Decodes the percent-escapes of a URL path segment.
 * @throws LoopgateError E_HTTP_PATH_INVALID for a malformed escape
 */
function decodePath(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch (cause) {
    throw new LoopgateError(
      'E_HTTP_PATH_INVALID',
      `The path "${raw.slice(0, 200)}" has a malformed percent-escape; escapes are % and two hex digits of UTF-8.`,
      { cause },
    );
  }
}

/** A line `<!-- partial: NAME -->` of a page, with its indentation. */
const partialLine = /^([ \t]*)<!-- partial: ([a-z][a-z-]*) -->[ \t]*$/gm;

/**
 * A page with each `<!-- partial: NAME -->` line replaced by `web/partials/NAME.html`, every
 * line of it indented as the placeholder was: the `<head>` lines and the header every page
 * shares are kept once. `readPartial` returns a partial's text, or null when there is none.
 * @returns the page, or null when a partial it names is missing
 */
export function assemblePage(
  page: string,
  readPartial: (name: string) => string | null,
): string | null {
  let missing = false;
  const assembled = page.replace(partialLine, (_line, indent: string, name: string) => {
    const partial = readPartial(name);
    if (partial === null) {
      missing = true;
      return '';
    }
    return partial
      .trimEnd()
      .split('\n')
      .map((line) => (line === '' ? line : indent + line))
      .join('\n');
  });
  return missing ? null : assembled;
}

/**
 * Reads `web/pages/<name>` and fills in its partials ({@link assemblePage}); null when the page
 * or a partial it names is missing from this install.
 */
function readPage(name: string): Buffer | null {
  const page = readFile(join(webRoot, 'pages', name));
  if (!page) return null;
  const partials = join(webRoot, 'partials');
  const assembled = assemblePage(page.toString('utf8'), (partial) => {
    const path = resolveBelow(partials, `${partial}.html`);
    return path === null ? null : (readFile(path)?.toString('utf8') ?? null);
  });
  return assembled === null ? null : Buffer.from(assembled, 'utf8');
}

/** The answer for a page missing from the install (a packaging fault, not the caller's). */
const missingPage = () => new Response('Page missing from this install.', { status: 500 });

/**
 * A handler that serves `web/pages/<name>` with the pages' CSP and `no-store`, `noindex` and
 * `no-referrer` (for pages reached by a one-time link: sign-in, email confirm, deliveries).
 * The page is read and assembled once, when the handler is made; a page missing from the
 * install answers 500 with a plain message.
 */
export function servePrivatePage(name: string): () => Response {
  const body = readPage(name);
  return () => {
    if (!body) return missingPage();
    return new Response(new Uint8Array(body), {
      headers: {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Security-Policy': contentSecurityPolicy,
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        'Cache-Control': 'no-store',
        'X-Robots-Tag': 'noindex',
      },
    });
  };
}

/**
 * The pages humans use (`/`, `/approvals/:id`, `/signin`, `/settings`; assembled once, at
 * start, see {@link assemblePage}) and their assets (`/assets/*` from
 * `web/assets`, plus extra asset folders such as the compiled E2EE module). Files that exist are
 * read once and kept in memory, keyed by their resolved path and at most {@link maxCachedFiles}
 * of them; a miss is never remembered, so unique missing paths cost no memory.
 */
export function createStaticRoutes(extraAssets: Record<string, string> = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const cache = new Map<string, Buffer>();
  const load = (root: string, relative: string) => {
    const path = resolveBelow(root, relative);
    if (path === null) return null;
    const cached = cache.get(path);
    if (cached) return cached;
    const body = readFile(path);
    if (body && cache.size < maxCachedFiles) cache.set(path, body);
    return body;
  };
  const send = (body: Buffer, name: string) =>
    new Response(new Uint8Array(body), {
      headers: {
        'Content-Type': contentTypes[extname(name)] ?? 'application/octet-stream',
        'Content-Security-Policy': contentSecurityPolicy,
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        'Cache-Control': 'no-cache',
      },
    });
  // Each page is read and assembled once, here.
  const page = (name: string) => {
    const body = readPage(name);
    return () => (body ? send(body, name) : missingPage());
  };

  app.get('/', page('inbox.html'));
  app.get('/approvals/:id', page('approval.html'));
  app.get('/signin', page('signin.html'));
  app.get('/settings', page('settings.html'));
  // The live handoff viewer; its token is in the query and its key in the fragment (never sent).
  app.get('/handoff/:id', () => {
    const body = load(join(webRoot, 'viewer'), 'viewer.html');
    return body ? send(body, 'viewer.html') : missingPage();
  });
  for (const [prefix, root] of Object.entries(extraAssets)) {
    app.get(`/assets/${prefix}/*`, (c, next) => {
      const relative = decodePath(c.req.path.slice(`/assets/${prefix}/`.length));
      const body = load(root, relative);
      return body ? send(body, relative) : next();
    });
  }
  app.get('/assets/*', (c, next) => {
    const relative = decodePath(c.req.path.slice('/assets/'.length));
    const body = load(join(webRoot, 'assets'), relative);
    return body ? send(body, relative) : next();
  });
  return app;
}
