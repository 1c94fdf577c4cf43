import createDebug from 'debug';
import { LoopgateError, isLoopgateError } from '../core/errors.js';
import { generateFragmentSecret } from '../crypto/e2ee/fragmentSecret.js';
import {
  createAgentChannel,
  type AgentChannel,
  type AgentChannelState,
} from '../handoff/agentChannel.js';
import {
  isFinalHandoffStatus,
  type blockerTypes,
  type HandoffStatus,
  type HandoffView,
} from '../handoff/handoffView.js';
import type { RelayAgentLink } from '../handoff/relayHub.js';
import { resolveCdpTarget } from '../handoff/resolveCdpTarget.js';
import type { HandoffClient } from './handoffClient.js';

const debug = createDebug('loopgate:relay');

/** `browser_handoff`'s input. */
export interface StartHandoffInput {
  service: string;
  cdp_url?: string | undefined;
  context?:
    | {
        url?: string | undefined;
        blocker_type?: (typeof blockerTypes)[number] | undefined;
        hint?: string | undefined;
      }
    | undefined;
  ttl_seconds?: number | undefined;
}

/** What `browser_handoff` returns: `session_url` carries the `#k=` secret; give it to the human only. */
export interface StartedHandoff {
  session_id: string;
  session_url: string;
  expires_at: string;
}

interface LiveHandoff {
  channel: AgentChannel;
  link: RelayAgentLink;
  closed: boolean;
}

/**
 * The agent side of browser handoffs, in the `loopgate mcp` process (the one that can reach the
 * agent's Chromium). For each session: resolves the page over CDP, opens the session on the
 * relay, keeps the fragment secret `k` in memory only (appending `#k=` to the session URL
 * itself, so a remote server never sees it), joins the relay as the agent side with an
 * {@link AgentChannel}, reports the human's Done / Cancel (authenticated through the E2EE
 * channel) and a vanished browser (`error`), and stops the screencast when the session ends.
 * Several sessions at once.
 */
export class HandoffAgent {
  #client: HandoffClient;
  #defaultCdpUrl: string | undefined;
  #live = new Map<string, LiveHandoff>();
  /** Each started session's link, until the session expires (ms since epoch). */
  #links = new Map<string, { url: string; expiresAt: number }>();

  /** @internal Use {@link createHandoffAgent}. */
  constructor(options: { client: HandoffClient; defaultCdpUrl?: string | undefined }) {
    this.#client = options.client;
    this.#defaultCdpUrl = options.defaultCdpUrl;
  }

  /**
   * Starts a handoff and returns at once.
   * @throws {LoopgateError} `E_HANDOFF_CDP_URL_MISSING`; from {@link resolveCdpTarget}
   *   `E_CDP_URL_INVALID`, `E_CDP_UNREACHABLE`, `E_CDP_NO_PAGE`; from the relay
   *   `E_HANDOFF_TOO_MANY`, `E_REMOTE_UNREACHABLE`.
   */
  async start(input: StartHandoffInput): Promise<StartedHandoff> {
    const cdpUrl = input.cdp_url ?? this.#defaultCdpUrl;
    if (!cdpUrl) {
      throw new LoopgateError(
        'E_HANDOFF_CDP_URL_MISSING',
        'Pass cdp_url (http://host:port of a Chromium started with --remote-debugging-port, or a ws://…/devtools/… endpoint), or set LOOPGATE_CDP_URL for loopgate mcp.',
      );
    }
    // Find the page first: a wrong cdp_url fails before any session exists.
    const target = await resolveCdpTarget(
      cdpUrl,
      input.context?.url ? { url: input.context.url } : {},
    );
    const created = await this.#client.createSession({
      service: input.service,
      ...(input.context?.blocker_type ? { blocker_type: input.context.blocker_type } : {}),
      ...(input.ttl_seconds !== undefined ? { ttl_seconds: input.ttl_seconds } : {}),
    });
    const sessionId = created.session_id;
    const secret = generateFragmentSecret();
    let link: RelayAgentLink | null = null;
    const live: LiveHandoff = {
      closed: false,
      link: { send: (data) => link?.send(data), close: () => link?.close() },
      channel: createAgentChannel({
        sessionId,
        fragmentSecret: secret,
        target,
        send: (data) => link?.send(data),
        onViewerAction: (action) =>
          this.#report(sessionId, action === 'done' ? 'resolved' : 'cancelled'),
        onEnd: (end) => {
          if (end.reason !== 'stopped') this.#report(sessionId, 'error', end.message);
        },
      }),
    };
    this.#live.set(sessionId, live);
    link = this.#client.connectAgent(created, (data) => {
      if (typeof data === 'string' && this.#isEndNotice(data)) void this.#close(sessionId);
      void live.channel.handleRelayMessage(data);
    });
    debug('handoff %s started on page %s', sessionId, target.targetId);
    const sessionUrl = `${created.viewer_url}#k=${secret}`;
    const now = Date.now();
    for (const [id, link] of this.#links) if (link.expiresAt < now) this.#links.delete(id);
    this.#links.set(sessionId, { url: sessionUrl, expiresAt: Date.parse(created.expires_at) });
    return { session_id: sessionId, session_url: sessionUrl, expires_at: created.expires_at };
  }

  /** True for the relay's `{"type":"status"}` with a final status. */
  #isEndNotice(text: string): boolean {
    try {
      const msg = JSON.parse(text) as { type?: unknown; status?: unknown };
      return (
        msg.type === 'status' &&
        typeof msg.status === 'string' &&
        isFinalHandoffStatus(msg.status as HandoffStatus)
      );
    } catch {
      return false;
    }
  }

  #report(sessionId: string, status: 'resolved' | 'cancelled' | 'error', detail?: string): void {
    this.#client.endSession(sessionId, status, detail).then(
      () => void this.#close(sessionId),
      (err: unknown) => {
        // The relay may have heard the viewer's own notice first; one end wins.
        if (!isLoopgateError(err, 'E_HANDOFF_ENDED'))
          debug('could not report %s for %s: %s', status, sessionId, (err as Error).message);
        void this.#close(sessionId);
      },
    );
  }

  /** The session's view; closes the agent side when it has ended. */
  async get(sessionId: string): Promise<HandoffView> {
    return this.#closeIfEnded(await this.#client.getSession(sessionId));
  }

  /** Waits for the status to change (≤ 50 s); see {@link HandoffClient.waitForChange}. */
  async waitForChange(
    sessionId: string,
    maxWaitSeconds: number,
    signal?: AbortSignal,
  ): Promise<HandoffView> {
    return this.#closeIfEnded(await this.#client.waitForChange(sessionId, maxWaitSeconds, signal));
  }

  /** Cancels the session and stops its screencast. */
  async cancel(sessionId: string): Promise<HandoffView> {
    const view = await this.#client.cancelSession(sessionId);
    await this.#close(sessionId);
    return view;
  }

  #closeIfEnded(view: HandoffView): HandoffView {
    if (isFinalHandoffStatus(view.status)) void this.#close(view.session_id);
    return view;
  }

  async #close(sessionId: string): Promise<void> {
    const live = this.#live.get(sessionId);
    if (!live || live.closed) return;
    live.closed = true;
    this.#live.delete(sessionId);
    live.link.close();
    await live.channel
      .close()
      .catch((err: Error) => debug('closing %s: %s', sessionId, err.message));
    debug('handoff %s: agent side closed', sessionId);
  }

  /**
   * The link (with its key fragment) of a session this process started, until the session
   * expires; undefined for any other.
   */
  sessionUrl(sessionId: string): string | undefined {
    return this.#links.get(sessionId)?.url;
  }

  /** Whether a human's viewer is connected to the session and its keys confirmed; null once closed. */
  viewerState(sessionId: string): AgentChannelState | null {
    return this.#live.get(sessionId)?.channel.state ?? null;
  }

  /** Number of sessions whose agent side is still open. */
  get liveCount(): number {
    return this.#live.size;
  }

  /** Closes every session's agent side (the sessions end by their TTL on the server). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.#live.keys()].map((id) => this.#close(id)));
  }
}

/** Creates the agent side of browser handoffs over `client`. */
export function createHandoffAgent(options: {
  client: HandoffClient;
  defaultCdpUrl?: string | undefined;
}): HandoffAgent {
  return new HandoffAgent(options);
}
