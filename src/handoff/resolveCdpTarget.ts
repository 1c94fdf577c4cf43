import createDebug from 'debug';
import { LoopgateError } from '../core/errors.js';
import { CdpConnection } from './cdpConnection.js';

const debug = createDebug('loopgate:cdp');

/** The page a handoff streams, and how to reach it. */
export interface CdpTarget {
  /**
   * The browser-level endpoint (`ws://…/devtools/browser/…`), when one is known. Through it the
   * screencast attaches to the page (`Target.attachToTarget`, flatten) and follows popups.
   */
  browserWsUrl: string | null;
  /** The page's own endpoint, used only when no browser endpoint could be found. */
  pageWsUrl: string | null;
  /** CDP `TargetID` of the page. */
  targetId: string;
  /** The page's URL when it was picked. */
  url: string;
  title: string;
}

interface PageInfo {
  targetId: string;
  url: string;
  title: string;
  pageWsUrl: string | null;
}

interface JsonListEntry {
  id?: unknown;
  type?: unknown;
  url?: unknown;
  title?: unknown;
  webSocketDebuggerUrl?: unknown;
}

const fetchTimeoutMs = 5_000;

async function fetchJson(url: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(fetchTimeoutMs) });
  } catch (cause) {
    throw new LoopgateError(
      'E_CDP_UNREACHABLE',
      `Could not reach ${url}: is Chromium running with --remote-debugging-port?`,
      { cause },
    );
  }
  if (!res.ok)
    throw new LoopgateError(
      'E_CDP_UNREACHABLE',
      `${url} answered HTTP ${res.status}; expected 200 with JSON.`,
    );
  try {
    return await res.json();
  } catch (cause) {
    throw new LoopgateError(
      'E_CDP_UNREACHABLE',
      `${url} did not answer JSON; is this a DevTools endpoint?`,
      { cause },
    );
  }
}

/** `/json/list` pages, most recently active first (Chromium's DevToolsHttpHandler orders them so). */
async function listPages(httpBase: string): Promise<PageInfo[]> {
  const list = await fetchJson(`${httpBase}/json/list`);
  if (!Array.isArray(list))
    throw new LoopgateError(
      'E_CDP_UNREACHABLE',
      `${httpBase}/json/list did not answer a JSON array.`,
    );
  return (list as JsonListEntry[])
    .filter((t) => t.type === 'page' && typeof t.id === 'string')
    .map((t) => ({
      targetId: t.id as string,
      url: typeof t.url === 'string' ? t.url : '',
      title: typeof t.title === 'string' ? t.title : '',
      pageWsUrl: typeof t.webSocketDebuggerUrl === 'string' ? t.webSocketDebuggerUrl : null,
    }));
}

async function readBrowserWsUrl(httpBase: string): Promise<string> {
  const version = (await fetchJson(`${httpBase}/json/version`)) as {
    webSocketDebuggerUrl?: unknown;
  };
  if (typeof version.webSocketDebuggerUrl !== 'string') {
    throw new LoopgateError(
      'E_CDP_UNREACHABLE',
      `${httpBase}/json/version has no webSocketDebuggerUrl.`,
    );
  }
  return version.webSocketDebuggerUrl;
}

/** Pages from `Target.getTargets` on a browser endpoint (used when /json/list is unreachable). */
async function listPagesOverWs(browserWsUrl: string): Promise<PageInfo[]> {
  const conn = await CdpConnection.connect(browserWsUrl);
  try {
    const { targetInfos } = (await conn.send('Target.getTargets')) as {
      targetInfos?: Array<Record<string, unknown>>;
    };
    return (targetInfos ?? [])
      .filter((t) => t['type'] === 'page' && typeof t['targetId'] === 'string')
      .map((t) => ({
        targetId: t['targetId'] as string,
        url: typeof t['url'] === 'string' ? t['url'] : '',
        title: typeof t['title'] === 'string' ? t['title'] : '',
        pageWsUrl: null,
      }));
  } finally {
    await conn.close();
  }
}

function withoutHash(url: string): string {
  const i = url.indexOf('#');
  return i === -1 ? url : url.slice(0, i);
}

function originAndPath(url: string): string | null {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return null;
  }
}

/**
 * Picks the page to stream: the one whose URL equals `wantedUrl`, else equals it without the
 * fragment, else has the same origin and path; failing all, the first page (the most recently
 * active one when the list came from /json/list).
 */
export function pickPage<T extends { url: string }>(pages: T[], wantedUrl?: string): T | undefined {
  if (wantedUrl) {
    const exact = pages.find((p) => p.url === wantedUrl);
    if (exact) return exact;
    const noHash = pages.find((p) => withoutHash(p.url) === withoutHash(wantedUrl));
    if (noHash) return noHash;
    const wantedPath = originAndPath(wantedUrl);
    const samePath = wantedPath
      ? pages.find((p) => originAndPath(p.url) === wantedPath)
      : undefined;
    if (samePath) return samePath;
  }
  return pages[0];
}

/**
 * Resolves a `cdp_url` to the page to stream. Three forms:
 * - `http://host:port` (or https): `GET /json/version` gives the browser endpoint and
 *   `GET /json/list` the pages, most recently active first;
 * - a browser endpoint `ws://host:port/devtools/browser/<id>` (what Puppeteer's
 *   `browser.wsEndpoint()` and Chromium's "DevTools listening on" line give): pages from
 *   /json/list on the same host and port when reachable, else from `Target.getTargets`;
 * - a page endpoint `ws://host:port/devtools/page/<targetId>`: that page; the browser endpoint
 *   from /json/version when reachable (needed to follow popups), else the page endpoint alone.
 *
 * @param options.url the page URL the agent expects (`context.url`); it wins over recency.
 * @throws {LoopgateError} `E_CDP_URL_INVALID` (none of the three forms), `E_CDP_UNREACHABLE`
 *   (the endpoint does not answer), `E_CDP_NO_PAGE` (the browser has no page open).
 */
export async function resolveCdpTarget(
  cdpUrl: string,
  options: { url?: string } = {},
): Promise<CdpTarget> {
  let parsed: URL;
  try {
    parsed = new URL(cdpUrl);
  } catch (cause) {
    throw new LoopgateError(
      'E_CDP_URL_INVALID',
      `cdp_url "${cdpUrl}" is not a URL; expected http://host:port or a ws://…/devtools/… endpoint.`,
      { cause },
    );
  }
  const httpBase = `${parsed.protocol === 'wss:' || parsed.protocol === 'https:' ? 'https' : 'http'}://${parsed.host}`;

  if (parsed.protocol === 'http:' || parsed.protocol === 'https:') {
    if (parsed.pathname !== '/' && parsed.pathname !== '') {
      throw new LoopgateError(
        'E_CDP_URL_INVALID',
        `cdp_url "${cdpUrl}" has a path; expected just http://host:port.`,
      );
    }
    const browserWsUrl = await readBrowserWsUrl(httpBase);
    const page = pickPage(await listPages(httpBase), options.url);
    if (!page)
      throw new LoopgateError(
        'E_CDP_NO_PAGE',
        `The browser at ${httpBase} has no open page; open one, then call again.`,
      );
    debug('resolved %s to page %s (%s)', httpBase, page.targetId, page.url);
    return {
      browserWsUrl,
      pageWsUrl: page.pageWsUrl,
      targetId: page.targetId,
      url: page.url,
      title: page.title,
    };
  }

  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new LoopgateError(
      'E_CDP_URL_INVALID',
      `cdp_url "${cdpUrl}" uses ${parsed.protocol}; expected http:, https:, ws: or wss:.`,
    );
  }
  const browserMatch = /^\/devtools\/browser\/[^/]+$/.exec(parsed.pathname);
  const pageMatch = /^\/devtools\/page\/([^/]+)$/.exec(parsed.pathname);

  if (browserMatch) {
    const pages = await listPages(httpBase).catch((err: unknown) => {
      debug('no /json/list at %s (%s); asking Target.getTargets', httpBase, (err as Error).message);
      return listPagesOverWs(cdpUrl);
    });
    const page = pickPage(pages, options.url);
    if (!page)
      throw new LoopgateError(
        'E_CDP_NO_PAGE',
        `The browser at ${cdpUrl} has no open page; open one, then call again.`,
      );
    debug('resolved browser endpoint to page %s (%s)', page.targetId, page.url);
    return {
      browserWsUrl: cdpUrl,
      pageWsUrl: page.pageWsUrl,
      targetId: page.targetId,
      url: page.url,
      title: page.title,
    };
  }

  if (pageMatch) {
    const targetId = decodeURIComponent(pageMatch[1]!);
    const browserWsUrl = await readBrowserWsUrl(httpBase).catch(() => null);
    const listed = await listPages(httpBase).catch(() => [] as PageInfo[]);
    const info = listed.find((p) => p.targetId === targetId);
    if (!browserWsUrl) debug('no /json/version at %s: popups will not be followed', httpBase);
    return {
      browserWsUrl,
      pageWsUrl: cdpUrl,
      targetId,
      url: info?.url ?? '',
      title: info?.title ?? '',
    };
  }

  throw new LoopgateError(
    'E_CDP_URL_INVALID',
    `cdp_url "${cdpUrl}" is neither ws://host:port/devtools/browser/<id> nor ws://host:port/devtools/page/<id>.`,
  );
}
