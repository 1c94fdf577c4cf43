import createDebug from 'debug';
import { isLoopgateError } from '../core/errors.js';
import { createE2eeSession, type E2eeSession } from '../crypto/e2ee/e2eeSession.js';
import {
  decodeHandoffPayload,
  encodeFramePayload,
  encodeMessagePayload,
  type FrameMeta,
} from '../crypto/e2ee/handoffPayload.js';
import type { CdpTarget } from './resolveCdpTarget.js';
import {
  ScreencastSession,
  type ScreencastEnd,
  type ScreencastTargetInfo,
} from './screencastSession.js';
import { validateViewerMessage } from './viewerMessage.js';

const debugCdp = createDebug('loopgate:cdp');
const debugCrypto = createDebug('loopgate:crypto');

/** What the human did with the Done and Cancel buttons. */
export type ViewerAction = 'done' | 'cancel';

/** The agent side's view of the link, for `wait_for_handoff`'s `viewer_connected`. */
export interface AgentChannelState {
  viewerConnected: boolean;
  keysConfirmed: boolean;
}

/** Options of {@link createAgentChannel}. */
export interface AgentChannelOptions {
  sessionId: string;
  /** `k`, the base64url secret that goes in the session URL's fragment. */
  fragmentSecret: string;
  /** The page to stream (from {@link resolveCdpTarget}). */
  target: CdpTarget;
  /** Sends one binary message to the relay, for the viewer. */
  send: (data: Uint8Array) => void;
  /** Starting JPEG quality (default 70); lowered when the viewer's acks come back slowly. */
  quality?: number;
  maxWidth?: number;
  maxHeight?: number;
  /** The human pressed Done or Cancel (authenticated: it came through the E2EE channel). */
  onViewerAction?: (action: ViewerAction) => void;
  onStateChange?: (state: AgentChannelState) => void;
  /** The screencast ended: browser gone, page closed, or {@link AgentChannel.close}. */
  onEnd?: (end: ScreencastEnd) => void;
}

/** A relay control message, sent as a WebSocket text message to each side. */
export type RelayControl =
  | { type: 'peer'; state: 'connected' | 'disconnected' }
  | { type: 'status'; status: string; detail?: string };

const qualitySteps = { min: 25, max: 80, down: 15, up: 10 } as const;
const adaptEveryMs = 2_000;

/**
 * The agent side of one handoff: joins the E2EE handshake with each viewer connection,
 * starts the screencast once the keys are confirmed, seals frames to the viewer, and opens,
 * validates and performs the viewer's input. Transport-agnostic: feed it every message the
 * relay delivers ({@link AgentChannel.handleRelayMessage}) and give it `send`.
 */
export class AgentChannel {
  #options: AgentChannelOptions;
  #e2ee: Promise<E2eeSession> | null = null;
  #screencast: Promise<ScreencastSession> | null = null;
  #viewerConnected = false;
  #confirmed = false;
  #lastFrame: { meta: FrameMeta; image: Uint8Array } | null = null;
  #sentAt = new Map<number, number>();
  #ackDelayMs = 0;
  #quality: number;
  #lastAdapt = 0;
  #closed = false;

  /** @internal Use {@link createAgentChannel}. */
  constructor(options: AgentChannelOptions) {
    this.#options = options;
    this.#quality = options.quality ?? 70;
  }

  /** Whether a viewer is connected and whether its keys are confirmed. */
  get state(): AgentChannelState {
    return { viewerConnected: this.#viewerConnected, keysConfirmed: this.#confirmed };
  }

  /** Current JPEG quality of the screencast. */
  get quality(): number {
    return this.#quality;
  }

  /**
   * Handles one message from the relay: text is a {@link RelayControl} (`peer` connected /
   * disconnected starts or drops the E2EE session), binary goes to the E2EE session. Never
   * throws for anything the relay sends; what is refused is logged and dropped.
   */
  async handleRelayMessage(data: Uint8Array | string): Promise<void> {
    if (this.#closed) return;
    if (typeof data === 'string') {
      this.#handleControl(data);
      return;
    }
    const current = this.#ensureSession();
    const session = await current;
    const result = await session.receive(data);
    // A viewer that left while this message was being opened has taken its keys with it.
    if (this.#e2ee !== current) return;
    switch (result.kind) {
      case 'hello':
        this.#options.send(result.reply);
        return;
      case 'confirmed':
        this.#confirmed = true;
        this.#emitState();
        await this.#startOrResumeScreencast(session);
        return;
      case 'dropped':
        debugCrypto('agent dropped a viewer message: %s', result.reason);
        return;
      case 'data':
        await this.#handleViewerPayload(session, result.plaintext);
    }
  }

  #handleControl(text: string): void {
    let control: RelayControl;
    try {
      control = JSON.parse(text) as RelayControl;
    } catch {
      debugCdp('ignored a relay text message that is not JSON');
      return;
    }
    if (control.type !== 'peer') return;
    if (control.state === 'connected') {
      this.#viewerConnected = true;
      // Each viewer connection gets fresh keys; a session never re-keys.
      this.#e2ee = null;
      this.#confirmed = false;
      void this.#ensureSession();
    } else {
      this.#viewerConnected = false;
      this.#e2ee = null;
      this.#confirmed = false;
    }
    this.#emitState();
  }

  #ensureSession(): Promise<E2eeSession> {
    if (!this.#e2ee) {
      const creating = createE2eeSession({
        role: 'agent',
        sessionId: this.#options.sessionId,
        fragmentSecret: this.#options.fragmentSecret,
        log: (line) => debugCrypto(line),
      }).then(async (session) => {
        if (this.#e2ee === creating) this.#options.send(await session.hello());
        return session;
      });
      this.#e2ee = creating;
    }
    return this.#e2ee;
  }

  async #startOrResumeScreencast(session: E2eeSession): Promise<void> {
    if (!this.#screencast) {
      const { target, maxWidth, maxHeight } = this.#options;
      this.#screencast = ScreencastSession.start({
        target,
        quality: this.#quality,
        ...(maxWidth ? { maxWidth } : {}),
        ...(maxHeight ? { maxHeight } : {}),
        onFrame: (frame) => {
          this.#lastFrame = { meta: frame.meta, image: frame.image };
          this.#sendFrame(frame.meta, frame.image);
        },
        onTargetChanged: (info) => this.#sendTarget(info),
        onEnd: (end) => {
          void this.#sendMessage({ type: 'ended', reason: end.reason });
          this.#options.onEnd?.(end);
        },
      });
      this.#screencast.catch((err: Error) => {
        debugCdp('screencast failed to start: %s', err.message);
        this.#options.onEnd?.({ reason: 'browser-disconnected', message: err.message });
      });
      return;
    }
    const screencast = await this.#screencast;
    // A reconnected viewer has seen nothing: send the page as last captured, and let
    // Chromium send the next frame.
    if (this.#lastFrame && this.#e2ee && (await this.#e2ee) === session)
      this.#sendFrame(this.#lastFrame.meta, this.#lastFrame.image);
    screencast.viewerAcked(screencast.frameCount);
  }

  #sendFrame(meta: FrameMeta, image: Uint8Array): void {
    if (!this.#confirmed || !this.#e2ee) return; // unsent, so unacked: Chromium pauses
    const e2ee = this.#e2ee;
    this.#sentAt.set(meta.frame, Date.now());
    void e2ee
      .then((s) => s.seal(encodeFramePayload(meta, image)))
      .then((sealed) => {
        if (this.#e2ee === e2ee) this.#options.send(sealed);
      })
      .catch((err: Error) => debugCrypto('frame not sent: %s', err.message));
  }

  #sendTarget(info: ScreencastTargetInfo): void {
    void this.#sendMessage({ type: 'target', url: info.url, popup: info.popup });
  }

  async #sendMessage(value: unknown): Promise<void> {
    if (!this.#confirmed || !this.#e2ee) return;
    const e2ee = this.#e2ee;
    try {
      const sealed = await (await e2ee).seal(encodeMessagePayload(value));
      if (this.#e2ee === e2ee) this.#options.send(sealed);
    } catch (err) {
      debugCrypto('message not sent: %s', (err as Error).message);
    }
  }

  async #handleViewerPayload(session: E2eeSession, plaintext: Uint8Array): Promise<void> {
    const payload = decodeHandoffPayload(plaintext);
    if (payload?.kind !== 'message') {
      debugCdp('viewer sent a payload that is not a JSON message; ignored');
      return;
    }
    const validation = validateViewerMessage(payload.value);
    if (!validation.ok) {
      debugCdp('viewer message refused: %s', validation.code);
      await this.#sendMessage({
        type: 'inputRefused',
        code: validation.code,
        message: validation.message,
      });
      return;
    }
    const message = validation.value;
    if (message.kind === 'input') {
      // Only a confirmed session yields data, so no input reaches the page before that.
      if (!session.isConfirmed || !this.#screencast) return;
      const screencast = await this.#screencast;
      await screencast.dispatchInput(message.event).catch(async (err: unknown) => {
        const code = isLoopgateError(err) ? err.code : 'E_HANDOFF_INPUT_INVALID';
        debugCdp('input %s refused: %s', message.event.type, code);
        await this.#sendMessage({ type: 'inputRefused', code, message: (err as Error).message });
      });
      return;
    }
    const control = message.message;
    switch (control.type) {
      case 'frameAck':
        this.#onFrameAck(control.frame);
        return;
      case 'ping':
        await this.#sendMessage({ type: 'pong', t: control.t });
        return;
      case 'fitViewport':
      case 'restoreViewport': {
        if (!this.#screencast) return;
        const screencast = await this.#screencast;
        const work =
          control.type === 'fitViewport'
            ? screencast.fitViewport(control.width, control.height)
            : screencast.restoreViewport();
        await work.catch(async (err: unknown) => {
          const code = isLoopgateError(err) ? err.code : 'E_CDP_COMMAND_FAILED';
          debugCdp('%s refused: %s', control.type, code);
          await this.#sendMessage({ type: 'inputRefused', code, message: (err as Error).message });
        });
        return;
      }
      case 'done':
      case 'cancel': {
        debugCdp('viewer pressed %s', control.type);
        // The handoff ends: the agent's page gets its own viewport back before anyone goes on.
        const screencast = await this.#screencast?.catch(() => null);
        await screencast?.restoreViewport();
        this.#options.onViewerAction?.(control.type);
      }
    }
  }

  #onFrameAck(frame: number): void {
    const sentAt = this.#sentAt.get(frame);
    for (const n of this.#sentAt.keys()) if (n <= frame) this.#sentAt.delete(n);
    if (sentAt !== undefined) {
      const delay = Date.now() - sentAt;
      this.#ackDelayMs = this.#ackDelayMs === 0 ? delay : this.#ackDelayMs * 0.8 + delay * 0.2;
    }
    void this.#screencast?.then((s) => {
      s.viewerAcked(frame);
      this.#adaptQuality(s);
    });
  }

  /** Lowers JPEG quality while acks come back slowly (> 400 ms), raises it when fast (< 120 ms). */
  #adaptQuality(screencast: ScreencastSession): void {
    const now = Date.now();
    if (now - this.#lastAdapt < adaptEveryMs) return;
    let next = this.#quality;
    if (this.#ackDelayMs > 400) next = Math.max(qualitySteps.min, next - qualitySteps.down);
    else if (this.#ackDelayMs < 120) next = Math.min(qualitySteps.max, next + qualitySteps.up);
    if (next === this.#quality) return;
    this.#lastAdapt = now;
    debugCdp(
      'ack delay %d ms: JPEG quality %d → %d',
      Math.round(this.#ackDelayMs),
      this.#quality,
      next,
    );
    this.#quality = next;
    screencast
      .setQuality(next)
      .catch((err: Error) => debugCdp('quality change failed: %s', err.message));
  }

  /**
   * Gives the page its own viewport back (if the viewer fitted it), stops the screencast and
   * forgets the keys; the agent's browser keeps running.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#e2ee = null;
    this.#confirmed = false;
    const screencast = await this.#screencast?.catch(() => null);
    await screencast?.stop();
  }

  #emitState(): void {
    this.#options.onStateChange?.(this.state);
  }
}

/**
 * Creates the agent side of a handoff. Nothing connects until the relay reports a viewer
 * (`{"type":"peer","state":"connected"}`) or the viewer's hello arrives; the screencast
 * starts when the viewer's keys are confirmed.
 */
export function createAgentChannel(options: AgentChannelOptions): AgentChannel {
  return new AgentChannel(options);
}
