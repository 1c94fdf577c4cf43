import createDebug from 'debug';
import { LoopgateError } from '../../core/errors.js';
import type { SlackBlock } from './slackBlocks.js';

const debug = createDebug('loopgate:channels');

/** The Slack Web API base URL used when none is configured. */
export const DEFAULT_SLACK_API_URL = 'https://slack.com/api';

/** Options for {@link SlackClient}. */
export interface SlackClientOptions {
  /** Bot token (`xoxb-…`, `LOOPGATE_SLACK_BOT_TOKEN`). Sent only as `Authorization: Bearer`; never logged. */
  token: string;
  /** Web API base URL (`LOOPGATE_SLACK_API_URL`). Default `https://slack.com/api`. */
  baseUrl?: string;
  /** `fetch` to use. Default the global one. */
  fetch?: typeof fetch;
  /** Waits `ms` milliseconds; injected so tests need not wait for Retry-After. */
  sleep?: (ms: number) => Promise<void>;
  /** How many times a 429 is retried after its Retry-After. Default 2. */
  maxRateLimitRetries?: number;
  /** Longest Retry-After (ms) waited for; longer ones fail at once. Default 30 000. */
  maxRetryAfterMs?: number;
  /** Per-call timeout in milliseconds. Default 10 000. */
  timeoutMs?: number;
  /**
   * Origins a `response_url` may point at. Default `['https://hooks.slack.com']`; tests add the
   * stand-in's origin.
   */
  responseUrlOrigins?: readonly string[];
}

/** Where a posted message landed: chat.update and thread replies need both. */
export interface SlackMessageRef {
  /** The channel id (`C…`, `D…`), even when the post named `#approvals` or a user id. */
  channel: string;
  /** The message timestamp, Slack's id for it. */
  ts: string;
}

/** Arguments of chat.postMessage (https://api.slack.com/methods/chat.postMessage). */
export interface PostMessageArgs {
  /** Channel id or name (`#approvals`) or a user id (`U…`) for a direct message. */
  channel: string;
  text: string;
  blocks?: SlackBlock[];
  /** Post as a reply in this thread. */
  thread_ts?: string;
}

/** Arguments of chat.update (https://api.slack.com/methods/chat.update). */
export interface UpdateMessageArgs {
  channel: string;
  ts: string;
  text: string;
  blocks?: SlackBlock[];
}

/** Arguments of chat.postEphemeral (https://api.slack.com/methods/chat.postEphemeral). */
export interface PostEphemeralArgs {
  channel: string;
  /** Only this user sees the message. */
  user: string;
  text: string;
  blocks?: SlackBlock[];
}

/** The JSON every Web API method answers with. */
export interface SlackApiResponse {
  ok: boolean;
  error?: string;
  channel?: string;
  ts?: string;
  message_ts?: string;
  [key: string]: unknown;
}

const sleepFor = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A small Slack Web API client over `fetch`: JSON bodies, `Authorization: Bearer <bot token>`.
 * It handles Slack's two failure styles: `{"ok": false, "error": "…"}` with HTTP 200 becomes
 * `E_SLACK_API_ERROR`, and HTTP 429 is retried after its `Retry-After` seconds
 * (https://api.slack.com/apis/rate-limits) up to `maxRateLimitRetries` times, then
 * `E_SLACK_RATE_LIMITED`. A network failure or timeout is `E_SLACK_UNREACHABLE`.
 */
export class SlackClient {
  readonly #token: string;
  readonly #baseUrl: string;
  readonly #fetch: typeof fetch;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #maxRateLimitRetries: number;
  readonly #maxRetryAfterMs: number;
  readonly #timeoutMs: number;
  readonly #responseUrlOrigins: readonly string[];

  constructor(options: SlackClientOptions) {
    this.#token = options.token;
    this.#baseUrl = (options.baseUrl ?? DEFAULT_SLACK_API_URL).replace(/\/+$/, '');
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#sleep = options.sleep ?? sleepFor;
    this.#maxRateLimitRetries = options.maxRateLimitRetries ?? 2;
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#responseUrlOrigins = options.responseUrlOrigins ?? ['https://hooks.slack.com'];
  }

  /** chat.postMessage. @returns the channel id and `ts` of the new message. */
  async postMessage(args: PostMessageArgs): Promise<SlackMessageRef> {
    const res = await this.call('chat.postMessage', { ...args });
    return this.#messageRef('chat.postMessage', res, res.ts);
  }

  /** A reminder or other reply in the thread under `threadTs` (chat.postMessage + `thread_ts`). */
  async postThreadReply(
    args: Omit<PostMessageArgs, 'thread_ts'> & { threadTs: string },
  ): Promise<SlackMessageRef> {
    const { threadTs, ...rest } = args;
    return this.postMessage({ ...rest, thread_ts: threadTs });
  }

  /** chat.update: replaces the text and blocks of the message at `ts`. */
  async update(args: UpdateMessageArgs): Promise<SlackMessageRef> {
    const res = await this.call('chat.update', { ...args });
    return this.#messageRef('chat.update', res, res.ts);
  }

  /** chat.postEphemeral: a message only `user` sees, e.g. "you may not decide this". */
  async postEphemeral(args: PostEphemeralArgs): Promise<{ messageTs: string | null }> {
    const res = await this.call('chat.postEphemeral', { ...args });
    return { messageTs: typeof res.message_ts === 'string' ? res.message_ts : null };
  }

  /**
   * Posts to an interaction's `response_url` (no token; the URL is the credential), e.g.
   * `{response_type: 'ephemeral', replace_original: false, text}`. Refuses URLs outside
   * `responseUrlOrigins` with `E_SLACK_RESPONSE_URL_FORBIDDEN`, so a payload cannot make the
   * server POST anywhere else.
   */
  async respond(responseUrl: string, body: Record<string, unknown>): Promise<void> {
    let url: URL;
    try {
      url = new URL(responseUrl);
    } catch (err) {
      throw new LoopgateError('E_SLACK_RESPONSE_URL_FORBIDDEN', 'response_url is not a URL.', {
        cause: err,
      });
    }
    if (!this.#responseUrlOrigins.includes(url.origin)) {
      throw new LoopgateError(
        'E_SLACK_RESPONSE_URL_FORBIDDEN',
        `response_url origin ${url.origin} is not one of ${this.#responseUrlOrigins.join(', ')}.`,
      );
    }
    const response = await this.#send('response_url', url.href, body, false);
    if (!response.ok) {
      throw new LoopgateError(
        'E_SLACK_API_ERROR',
        `response_url answered HTTP ${response.status}; expected 200.`,
      );
    }
  }

  /**
   * Calls any Web API method with a JSON body; retries 429s.
   * @throws LoopgateError `E_SLACK_API_ERROR`, `E_SLACK_RATE_LIMITED`, `E_SLACK_UNREACHABLE`.
   */
  async call(method: string, body: Record<string, unknown>): Promise<SlackApiResponse> {
    const url = `${this.#baseUrl}/${method}`;
    for (let attempt = 0; ; attempt++) {
      const response = await this.#send(method, url, body, true);
      if (response.status === 429) {
        const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
        await response.body?.cancel().catch(() => undefined);
        if (attempt >= this.#maxRateLimitRetries || retryAfterMs > this.#maxRetryAfterMs) {
          throw new LoopgateError(
            'E_SLACK_RATE_LIMITED',
            `Slack ${method} answered 429 (Retry-After ${retryAfterMs / 1000} s) after ` +
              `${attempt + 1} attempt(s); allowed ${this.#maxRateLimitRetries} retries and ` +
              `${this.#maxRetryAfterMs / 1000} s of waiting.`,
          );
        }
        debug('slack %s rate limited, retrying after %d ms', method, retryAfterMs);
        await this.#sleep(retryAfterMs);
        continue;
      }
      let json: unknown;
      try {
        json = await response.json();
      } catch (err) {
        throw new LoopgateError(
          'E_SLACK_API_ERROR',
          `Slack ${method} answered HTTP ${response.status} without a JSON body.`,
          { cause: err },
        );
      }
      const result = json as SlackApiResponse;
      if (!response.ok || typeof json !== 'object' || json === null || result.ok !== true) {
        const error = typeof result?.error === 'string' ? result.error : 'unknown_error';
        debug('slack %s failed: HTTP %d %s', method, response.status, error);
        throw new LoopgateError(
          'E_SLACK_API_ERROR',
          `Slack ${method} failed with "${error}" (HTTP ${response.status}); expected ok: true.` +
            hintFor(error),
        );
      }
      debug('slack %s ok', method);
      return result;
    }
  }

  async #send(
    label: string,
    url: string,
    body: Record<string, unknown>,
    withToken: boolean,
  ): Promise<Response> {
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
    if (withToken) headers['authorization'] = `Bearer ${this.#token}`;
    try {
      return await this.#fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        redirect: 'error',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new LoopgateError(
        'E_SLACK_UNREACHABLE',
        `Slack ${label} could not be reached (${(err as Error).name}: ${(err as Error).message}); ` +
          'check LOOPGATE_SLACK_API_URL and the network.',
        { cause: err },
      );
    }
  }

  #messageRef(method: string, res: SlackApiResponse, ts: unknown): SlackMessageRef {
    if (typeof res.channel !== 'string' || typeof ts !== 'string') {
      throw new LoopgateError(
        'E_SLACK_API_ERROR',
        `Slack ${method} answered ok without channel and ts.`,
      );
    }
    return { channel: res.channel, ts };
  }
}

/** Retry-After in seconds (RFC 9110 §10.2.3; Slack sends delay-seconds) → ms; default 1 s. */
function parseRetryAfter(value: string | null): number {
  if (value === null) return 1000;
  const seconds = Number(value.trim());
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? 1000 : Math.max(0, date - Date.now());
}

function hintFor(error: string): string {
  switch (error) {
    case 'not_in_channel':
    case 'channel_not_found':
      return ' Invite the bot to the channel, or use a channel id or user id it can reach.';
    case 'invalid_auth':
    case 'not_authed':
    case 'token_revoked':
      return ' Check LOOPGATE_SLACK_BOT_TOKEN.';
    case 'missing_scope':
      return ' Add the chat:write scope to the Slack app and reinstall it.';
    default:
      return '';
  }
}
