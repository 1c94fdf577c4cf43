import createDebug from 'debug';
import { isLoopgateError, LoopgateError } from '../core/errors.js';
import type { FrameMeta } from '../crypto/e2ee/handoffPayload.js';
import { CdpConnection, type CdpEvent } from './cdpConnection.js';
import { validateInputEvent } from './inputEvent.js';
import {
  assertInputCommandAllowed,
  mapInputEvent,
  type CdpCommand,
  type Viewport,
} from './mapInputEvent.js';
import type { CdpTarget } from './resolveCdpTarget.js';

const debug = createDebug('loopgate:cdp');

/** One screencast frame, ready to seal and send to the viewer. */
export interface ScreencastFrame {
  /** Metadata with our running frame number; the viewer acks that number. */
  meta: FrameMeta;
  /** The JPEG (or PNG) bytes, decoded from CDP's base64. */
  image: Uint8Array;
  /** The target the frame shows (the opener or a popup). */
  targetId: string;
}

/** Which page is streamed now. */
export interface ScreencastTargetInfo {
  targetId: string;
  url: string;
  /** True while a popup opened by the page (an OAuth window, say) is streamed instead. */
  popup: boolean;
}

/** Why a screencast ended. */
export interface ScreencastEnd {
  /**
   * `browser-disconnected`: the DevTools connection closed (browser exited or crashed);
   * `target-closed`: the handed-off page itself was closed; `stopped`: {@link ScreencastSession.stop}.
   */
  reason: 'browser-disconnected' | 'target-closed' | 'stopped';
  message: string;
}

/** Options of {@link ScreencastSession.start}. */
export interface ScreencastOptions {
  target: CdpTarget;
  /** JPEG quality 1–100 (CDP `Page.startScreencast` `quality`); default 70. */
  quality?: number;
  /** Largest frame size in device pixels; Chromium scales the frame down to fit. */
  maxWidth?: number;
  maxHeight?: number;
  /**
   * How many frames the viewer may be behind (sent but not yet acked by it through
   * {@link ScreencastSession.viewerAcked}) for the next frame still to be acked to Chromium at
   * once; beyond that the ack waits, so Chromium sends nothing more until the viewer catches
   * up — and then sends the page as it is now. Default 2.
   */
  maxFramesAhead?: number;
  /** Called for every frame; send it to the viewer. */
  onFrame: (frame: ScreencastFrame) => void;
  /** Called when the streamed page changes: a popup opened, or closed and the opener is back. */
  onTargetChanged?: (info: ScreencastTargetInfo) => void;
  /** Called once when the screencast ends, whatever the reason. */
  onEnd?: (end: ScreencastEnd) => void;
}

interface StreamedTarget {
  targetId: string;
  /** Flat-mode session id; undefined when connected to the page endpoint directly. */
  sessionId: string | undefined;
  url: string;
}

interface PendingAck {
  cdpSessionId: string | undefined;
  frameId: number;
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

/**
 * Streams one page of the agent's Chromium with `Page.startScreencast` over raw CDP, follows
 * the popups it opens, and performs the viewer's input on whichever page is shown.
 *
 * Backpressure: Chromium sends the next screencast frame only after the previous one is acked
 * (`Page.screencastFrameAck`). We ack only while the viewer is at most `maxFramesAhead` frames
 * behind, so a slow viewer gets fewer frames, never a queue of old ones.
 */
export class ScreencastSession {
  #conn: CdpConnection;
  #options: ScreencastOptions;
  #quality: number;
  #stack: StreamedTarget[] = [];
  #frameNumber = 0;
  /**
   * A popup is being followed and will be announced once its page has loaded and its first
   * frame has come (input is refused until then: the human has not seen the page).
   */
  #popupNoticePending = false;
  /** The followed popup's page has loaded; the announcement waits for its first frame. */
  #popupLoaded = false;
  #viewerAckedFrame = 0;
  /** Chromium keeps up to two frames in flight, so more than one ack can be held. */
  #pendingAcks: PendingAck[] = [];
  #viewport: Viewport | null = null;
  #ended = false;
  #endedPromise: Promise<ScreencastEnd>;
  #resolveEnded!: (end: ScreencastEnd) => void;
  #targetChain: Promise<unknown> = Promise.resolve();
  #inputChain: Promise<unknown> = Promise.resolve();
  /** CDP sessions of the pages whose viewport is overridden by {@link fitViewport}. */
  #fitted = new Set<string | undefined>();
  /** Set when {@link stop} begins: no page is fitted after that. */
  #stopping = false;

  private constructor(conn: CdpConnection, options: ScreencastOptions) {
    this.#conn = conn;
    this.#options = options;
    this.#quality = options.quality ?? 70;
    this.#endedPromise = new Promise((resolve) => (this.#resolveEnded = resolve));
  }

  /**
   * Connects (to the browser endpoint when there is one, else the page endpoint), attaches to
   * the page with `Target.attachToTarget` (`flatten: true`), watches for popups
   * (`Target.setDiscoverTargets`) and starts the screencast.
   *
   * @throws {LoopgateError} `E_CDP_UNREACHABLE` (cannot connect), `E_CDP_COMMAND_FAILED` (the
   *   target is gone or refuses the screencast), `E_CDP_URL_INVALID` (neither endpoint known).
   */
  static async start(options: ScreencastOptions): Promise<ScreencastSession> {
    const { target } = options;
    const endpoint = target.browserWsUrl ?? target.pageWsUrl;
    if (!endpoint)
      throw new LoopgateError(
        'E_CDP_URL_INVALID',
        `Target ${target.targetId} has neither a browser nor a page endpoint.`,
      );
    const conn = await CdpConnection.connect(endpoint);
    const session = new ScreencastSession(conn, options);
    try {
      await session.#begin();
    } catch (err) {
      await conn.close();
      throw err;
    }
    return session;
  }

  async #begin(): Promise<void> {
    const { target } = this.#options;
    this.#conn.onEvent((event) => this.#onEvent(event));
    this.#conn.onClose((reason) =>
      this.#end(
        'browser-disconnected',
        `The DevTools connection closed (${reason}): the browser exited or crashed.`,
      ),
    );
    if (this.#options.target.browserWsUrl) {
      await this.#conn.send('Target.setDiscoverTargets', { discover: true });
      const { sessionId } = (await this.#conn.send('Target.attachToTarget', {
        targetId: target.targetId,
        flatten: true,
      })) as { sessionId: string };
      this.#stack.push({ targetId: target.targetId, sessionId, url: target.url });
    } else {
      this.#stack.push({ targetId: target.targetId, sessionId: undefined, url: target.url });
    }
    await this.#startOn(this.#current());
    debug('screencast started on %s', target.targetId);
  }

  #current(): StreamedTarget {
    return this.#stack[this.#stack.length - 1]!;
  }

  /** Starts the screencast on `t`; a new page (not a quality change) forgets the old viewport. */
  async #startOn(t: StreamedTarget, newPage = true): Promise<void> {
    if (newPage) this.#viewport = null;
    this.#pendingAcks = [];
    await this.#conn.send('Page.enable', {}, t.sessionId);
    const params: Record<string, unknown> = {
      format: 'jpeg',
      quality: this.#quality,
      everyNthFrame: 1,
    };
    if (this.#options.maxWidth) params['maxWidth'] = this.#options.maxWidth;
    if (this.#options.maxHeight) params['maxHeight'] = this.#options.maxHeight;
    await this.#conn.send('Page.startScreencast', params, t.sessionId);
  }

  /** The page streamed now. */
  get targetId(): string {
    return this.#current().targetId;
  }

  /** The streamed page's viewport in CSS pixels, from the latest frame; null before the first. */
  get viewport(): Viewport | null {
    return this.#viewport;
  }

  /** Frames handed to `onFrame` so far; the last frame's number. */
  get frameCount(): number {
    return this.#frameNumber;
  }

  /** Resolves once when the screencast ends. */
  get ended(): Promise<ScreencastEnd> {
    return this.#endedPromise;
  }

  /**
   * Chromium frames whose `Page.screencastFrameAck` is held back because the viewer is more than
   * `maxFramesAhead` frames behind; while it is above 0, Chromium sends no new frame.
   */
  get heldFrameAcks(): number {
    return this.#pendingAcks.length;
  }

  /** True when the screencast has ended. */
  get isEnded(): boolean {
    return this.#ended;
  }

  /**
   * Tells the session the viewer has shown frame `frame` (its `meta.frame`); acks Chromium's
   * held frame if the viewer is now close enough behind.
   */
  viewerAcked(frame: number): void {
    if (!Number.isSafeInteger(frame) || frame > this.#frameNumber) return;
    if (frame > this.#viewerAckedFrame) this.#viewerAckedFrame = frame;
    this.#maybeAck();
  }

  /** Restarts the screencast with another JPEG quality (1–100), e.g. for a slow link. */
  async setQuality(quality: number): Promise<void> {
    const q = Math.max(1, Math.min(100, Math.round(quality)));
    if (q === this.#quality) return;
    this.#quality = q;
    await this.#switch(async () => {
      const t = this.#current();
      await this.#conn.send('Page.stopScreencast', {}, t.sessionId).catch(() => undefined);
      await this.#startOn(t, false);
    });
  }

  /**
   * Validates one viewer input event, maps it to CDP commands and sends them to the page
   * shown now, in order (events are queued, one after another). Only commands in the input
   * allowlist are ever sent.
   *
   * @throws {LoopgateError} `E_HANDOFF_INPUT_INVALID`, `E_HANDOFF_NO_VIEWPORT` (before the
   *   first frame), `E_HANDOFF_INPUT_OUT_OF_VIEWPORT`, `E_HANDOFF_COMMAND_FORBIDDEN`,
   *   `E_CDP_COMMAND_FAILED`, `E_CDP_DISCONNECTED`.
   */
  dispatchInput(value: unknown): Promise<void> {
    const result = this.#inputChain.then(() => this.#dispatchNow(value));
    this.#inputChain = result.catch(() => undefined);
    return result;
  }

  async #dispatchNow(value: unknown): Promise<void> {
    const validation = validateInputEvent(value);
    if (!validation.ok) throw new LoopgateError(validation.code, validation.message);
    if (!this.#viewport) {
      throw new LoopgateError(
        'E_HANDOFF_NO_VIEWPORT',
        'Input arrived before the first screencast frame; wait for a frame, then send input.',
      );
    }
    const steps = mapInputEvent(validation.value, this.#viewport);
    const sessionId = this.#current().sessionId;
    try {
      await this.#sendSteps(steps, sessionId);
    } catch (err) {
      // A click on a popup's "Allow" that closes it: the page is gone, the input did its work.
      const pageClosed =
        isLoopgateError(err) &&
        err.code === 'E_CDP_DISCONNECTED' &&
        sessionId !== undefined &&
        !this.#conn.isClosed &&
        !this.#stack.some((t) => t.sessionId === sessionId);
      if (!pageClosed) throw err;
      debug('input %s closed its page', validation.value.type);
      return;
    }
    debug('input %s dispatched (%d steps)', validation.value.type, steps.length);
  }

  async #sendSteps(
    steps: ReturnType<typeof mapInputEvent>,
    sessionId: string | undefined,
  ): Promise<void> {
    for (const step of steps) {
      if ('method' in step) {
        await this.#sendInput(step, sessionId);
        continue;
      }
      const history = (await this.#sendInput(
        { method: 'Page.getNavigationHistory', params: {} },
        sessionId,
      )) as {
        currentIndex?: number;
        entries?: Array<{ id: number }>;
      };
      const entry = history.entries?.[(history.currentIndex ?? 0) + step.historyDelta];
      if (entry)
        await this.#sendInput(
          { method: 'Page.navigateToHistoryEntry', params: { entryId: entry.id } },
          sessionId,
        );
    }
  }

  async #sendInput(
    command: CdpCommand,
    sessionId: string | undefined,
  ): Promise<Record<string, unknown>> {
    assertInputCommandAllowed(command);
    return this.#conn.send(command.method, command.params, sessionId);
  }

  /**
   * Lays the page shown now out at `width` × `height` CSS px (the viewer's screen), with CDP
   * `Emulation.setDeviceMetricsOverride` (device scale factor and mobile emulation unchanged),
   * until {@link restoreViewport} or {@link stop}; nothing once {@link stop} has begun. The caller
   * bounds the size.
   *
   * @throws {LoopgateError} `E_CDP_COMMAND_FAILED`, `E_CDP_DISCONNECTED`.
   */
  async fitViewport(width: number, height: number): Promise<void> {
    // Once the handoff is ending, the page keeps (or gets back) its own size.
    if (this.#stopping || this.#ended) return;
    const sessionId = this.#current().sessionId;
    // Noted before the command is sent: a handoff that ends while it is on its way still restores
    // the page (CDP runs one connection's commands in order, so the clear comes after it).
    this.#fitted.add(sessionId);
    await this.#conn.send(
      'Emulation.setDeviceMetricsOverride',
      { width, height, deviceScaleFactor: 0, mobile: false },
      sessionId,
    );
    debug('viewport of %s fitted to %dx%d', this.#current().targetId, width, height);
  }

  /**
   * Gives every page {@link fitViewport} resized its own viewport back
   * (`Emulation.clearDeviceMetricsOverride`). A page that is gone is skipped.
   */
  async restoreViewport(): Promise<void> {
    const fitted = [...this.#fitted];
    this.#fitted.clear();
    await Promise.all(
      fitted.map((sessionId) =>
        this.#conn
          .send('Emulation.clearDeviceMetricsOverride', {}, sessionId)
          .catch((err: Error) => debug('viewport not restored: %s', err.message)),
      ),
    );
    if (fitted.length > 0) debug('viewport restored');
  }

  /**
   * Restores the viewport ({@link restoreViewport}), stops the screencast and closes the
   * DevTools connection; the browser keeps running.
   */
  async stop(): Promise<void> {
    if (this.#ended) return;
    this.#stopping = true;
    const t = this.#current();
    if (this.#fitted.size > 0) await this.restoreViewport();
    if (this.#ended) return;
    this.#end('stopped', 'The screencast was stopped.');
    await this.#conn.send('Page.stopScreencast', {}, t.sessionId).catch(() => undefined);
    await this.#conn.close();
  }

  #end(reason: ScreencastEnd['reason'], message: string): void {
    if (this.#ended) return;
    this.#ended = true;
    debug('screencast ended: %s', reason);
    const end = { reason, message };
    this.#resolveEnded(end);
    this.#options.onEnd?.(end);
    if (reason !== 'stopped') void this.#conn.close();
  }

  #maybeAck(): void {
    if (
      this.#pendingAcks.length === 0 ||
      this.#frameNumber - this.#viewerAckedFrame > (this.#options.maxFramesAhead ?? 2)
    )
      return;
    for (const pending of this.#pendingAcks.splice(0)) {
      this.#conn
        .send('Page.screencastFrameAck', { sessionId: pending.frameId }, pending.cdpSessionId)
        .catch((err: Error) => {
          debug('frame ack failed: %s', err.message);
        });
    }
  }

  #switch(work: () => Promise<void>): Promise<void> {
    const result = this.#targetChain.then(work);
    this.#targetChain = result.catch((err: Error) =>
      debug('target switch failed: %s', err.message),
    );
    return result;
  }

  #onEvent(event: CdpEvent): void {
    // Target.setDiscoverTargets reports every existing target before the page is attached.
    if (this.#ended || this.#stack.length === 0) return;
    switch (event.method) {
      case 'Page.screencastFrame':
        this.#onFrame(event);
        return;
      case 'Page.loadEventFired':
        if (event.sessionId === this.#current().sessionId) this.#announcePopup();
        return;
      case 'Target.targetCreated':
        this.#onTargetCreated(event.params['targetInfo'] as Record<string, unknown> | undefined);
        return;
      case 'Target.targetInfoChanged': {
        const info = event.params['targetInfo'] as Record<string, unknown> | undefined;
        const entry = this.#stack.find((t) => t.targetId === info?.['targetId']);
        if (entry && typeof info?.['url'] === 'string' && info['url'] !== entry.url) {
          entry.url = info['url'];
          if (entry === this.#current() && !this.#popupNoticePending) this.#notifyTarget();
        }
        return;
      }
      case 'Target.targetDestroyed':
        this.#onTargetGone(event.params['targetId']);
        return;
      case 'Target.detachedFromTarget': {
        const entry = this.#stack.find(
          (t) => t.sessionId !== undefined && t.sessionId === event.params['sessionId'],
        );
        if (entry) this.#onTargetGone(entry.targetId);
        return;
      }
      case 'Inspector.detached':
        if (!this.#options.target.browserWsUrl)
          this.#end('target-closed', 'The handed-off page was closed.');
        return;
      default:
    }
  }

  #onFrame(event: CdpEvent): void {
    const current = this.#current();
    const frameId = numberOr(event.params['sessionId'], -1);
    if (event.sessionId !== current.sessionId) {
      // A late frame from a page we no longer stream: ack it so that page is not left waiting.
      this.#conn
        .send('Page.screencastFrameAck', { sessionId: frameId }, event.sessionId)
        .catch(() => undefined);
      return;
    }
    const md = (event.params['metadata'] ?? {}) as Record<string, unknown>;
    const data = event.params['data'];
    if (typeof data !== 'string') return;
    const meta: FrameMeta = {
      frame: ++this.#frameNumber,
      format: 'jpeg',
      deviceWidth: numberOr(md['deviceWidth'], 0),
      deviceHeight: numberOr(md['deviceHeight'], 0),
      pageScaleFactor: numberOr(md['pageScaleFactor'], 1),
      offsetTop: numberOr(md['offsetTop'], 0),
      scrollOffsetX: numberOr(md['scrollOffsetX'], 0),
      scrollOffsetY: numberOr(md['scrollOffsetY'], 0),
    };
    if (typeof md['timestamp'] === 'number') meta.timestamp = md['timestamp'];

    this.#viewport = { width: meta.deviceWidth, height: meta.deviceHeight };
    this.#pendingAcks.push({ cdpSessionId: event.sessionId, frameId });
    const image = Buffer.from(data, 'base64');
    this.#options.onFrame({
      meta,
      image: new Uint8Array(image.buffer, image.byteOffset, image.length),
      targetId: current.targetId,
    });
    if (this.#popupLoaded) this.#announcePopup();
    this.#maybeAck();
  }

  #onTargetCreated(info: Record<string, unknown> | undefined): void {
    if (!info || info['type'] !== 'page' || typeof info['targetId'] !== 'string') return;
    const opener = this.#current();
    if (info['openerId'] !== opener.targetId) return;
    const targetId = info['targetId'];
    const url = typeof info['url'] === 'string' ? info['url'] : '';
    debug('popup %s opened by %s: following it', targetId, opener.targetId);
    void this.#switch(async () => {
      if (this.#ended) return;
      const { sessionId } = (await this.#conn.send('Target.attachToTarget', {
        targetId,
        flatten: true,
      })) as { sessionId: string };
      await this.#conn.send('Page.stopScreencast', {}, opener.sessionId).catch(() => undefined);
      const popup: StreamedTarget = { targetId, sessionId, url };
      this.#stack.push(popup);
      // Announce the popup once it has loaded: a new window starts as about:blank, and what the
      // human types before its form exists would be lost.
      this.#popupNoticePending = true;
      this.#popupLoaded = false;
      await this.#startOn(popup);
      const state = (await this.#conn
        .send(
          'Runtime.evaluate',
          { expression: 'document.readyState', returnByValue: true },
          sessionId,
        )
        .catch(() => null)) as { result?: { value?: unknown } } | null;
      if (state?.result?.value === 'complete') this.#announcePopup();
    });
  }

  #onTargetGone(targetId: unknown): void {
    const index = this.#stack.findIndex((t) => t.targetId === targetId);
    if (index === -1) return;
    if (index === 0) {
      this.#end('target-closed', 'The handed-off page was closed.');
      return;
    }
    // Popups above it in the stack (ones it opened) are no longer followed either.
    for (const gone of this.#stack.splice(index)) this.#fitted.delete(gone.sessionId);
    debug('popup %s closed: back to %s', String(targetId), this.#current().targetId);
    void this.#switch(async () => {
      if (this.#ended) return;
      await this.#startOn(this.#current());
      this.#notifyTarget();
    });
  }

  #announcePopup(): void {
    if (!this.#popupNoticePending) return;
    this.#popupLoaded = true;
    if (!this.#viewport) return;
    this.#popupNoticePending = false;
    this.#popupLoaded = false;
    this.#notifyTarget();
  }

  #notifyTarget(): void {
    const t = this.#current();
    this.#options.onTargetChanged?.({
      targetId: t.targetId,
      url: t.url,
      popup: this.#stack.length > 1,
    });
  }
}
