import { readFileSync, existsSync, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
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

/** Reads a file below `root`, refusing paths that climb out of it. */
function readBelow(root: string, relative: string): Buffer | null {
  const path = normalize(join(root, relative));
  if (!path.startsWith(root.endsWith(sep) ? root : root + sep)) return null;
  if (!existsSync(path) || !statSync(path).isFile()) return null;
  return readFileSync(path);
}

/**
 * The pages humans use (`/`, `/approvals/:id`, `/signin`) and their assets (`/assets/*` from
 * `web/assets`, plus extra asset folders such as the compiled E2EE module). Files are read once
 * and kept in memory.
 */
export function createStaticRoutes(extraAssets: Record<string, string> = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const cache = new Map<string, Buffer | null>();
  const load = (root: string, relative: string) => {
    const key = `${root}\0${relative}`;
    if (!cache.has(key)) cache.set(key, readBelow(root, relative));
    return cache.get(key) ?? null;
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
  const page = (name: string) => () => {
    const body = load(join(webRoot, 'pages'), name);
    return body ? send(body, name) : new Response('Page missing from this install.', { status: 500 });
  };

  app.get('/', page('inbox.html'));
  app.get('/approvals/:id', page('approval.html'));
  app.get('/signin', page('signin.html'));
  app.get('/settings', page('settings.html'));
  // The live handoff viewer; its token is in the query and its key in the fragment (never sent).
  app.get('/handoff/:id', () => {
    const body = load(join(webRoot, 'viewer'), 'viewer.html');
    return body ? send(body, 'viewer.html') : new Response('Page missing from this install.', { status: 500 });
  });
  for (const [prefix, root] of Object.entries(extraAssets)) {
    app.get(`/assets/${prefix}/*`, (c, next) => {
      const relative = decodeURIComponent(c.req.path.slice(`/assets/${prefix}/`.length));
      const body = load(root, relative);
      return body ? send(body, relative) : next();
    });
  }
  app.get('/assets/*', (c, next) => {
    const relative = decodeURIComponent(c.req.path.slice('/assets/'.length));
    const body = load(join(webRoot, 'assets'), relative);
    return body ? send(body, relative) : next();
  });
  return app;
}
