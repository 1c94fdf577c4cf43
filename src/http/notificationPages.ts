import { Hono } from 'hono';
import type { AppEnv } from './appEnv.js';
import { servePrivatePage } from './staticPages.js';

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
  app.get('/email/confirm', servePrivatePage('confirm.html'));
  app.get('/deliveries', servePrivatePage('deliveries.html'));
  return app;
}
