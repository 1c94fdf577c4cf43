import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Hono } from 'hono';
import type { AppEnv } from './appEnv.js';
import { contentSecurityPolicy, webRoot } from './staticPages.js';

/**
 * The pages of the notification channels, with the same headers as every other page (strict
 * CSP, no referrer, no sniffing):
 *
 * - `/email/confirm?token=…`: the page an approval mail links to. GET and HEAD only serve
 *   this static page, whoever asks (a mail scanner, a link preview bot); it decides nothing.
 *   Its script shows the request and posts a decision only when a human clicks **Approve** or
 *   **Reject**. `Referrer-Policy: no-referrer` keeps the token out of other sites' logs.
 * - `/deliveries`: notifications and webhooks that could not be delivered (operators).
 */
export function createNotificationPages(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const cache = new Map<string, Buffer | null>();
  const page = (name: string) => () => {
    if (!cache.has(name)) {
      const path = join(webRoot, 'pages', name);
      cache.set(name, existsSync(path) ? readFileSync(path) : null);
    }
    const body = cache.get(name);
    if (!body) return new Response('Page missing from this install.', { status: 500 });
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
  app.get('/email/confirm', page('confirm.html'));
  app.get('/deliveries', page('deliveries.html'));
  return app;
}
