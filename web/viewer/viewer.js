// @ts-check
/**
 * The live handoff viewer. Opened from the session URL
 *   /handoff/<session_id>?t=<viewer token>#k=<secret>
 * it connects to the relay at /v1/handoff/<session_id>/viewer?t=<token>, runs the E2EE
 * handshake with the agent side (the secret never leaves this page: browsers do not send the
 * fragment), draws the encrypted screencast frames, and sends input only after the keys are
 * confirmed. Binary WebSocket messages are E2EE messages; text messages are relay control.
 */
import {
  createE2eeSession,
  decodeHandoffPayload,
  encodeMessagePayload,
  readFragmentSecret,
} from '/assets/e2ee/index.js';
import { fitFrame, fitViewportMessage, mapToPage } from './viewerGeometry.js';

/** Close codes the relay uses, and what the person should read. */
const closeReasons = {
  4400: 'The relay refused a malformed message.',
  4401: 'This link is not valid (wrong or expired token).',
  4404: 'This handoff does not exist.',
  4409: 'This handoff was opened on another device or tab, which now shows it.',
  4410: 'This handoff has ended.',
  4413: 'A message was too large.',
  4429: 'Too much input too fast.',
  4508: 'The connection is too slow to keep up.',
};
/** Close codes after which reconnecting cannot help. */
const finalCloseCodes = new Set([4401, 4404, 4409, 4410]);
const finalStatuses = new Set(['resolved', 'cancelled', 'timeout', 'error']);
/** Named keys the agent knows; other named keys are not sent. */
const namedKeys = new Set([
  'Enter',
  'Backspace',
  'Tab',
  'Escape',
  'Delete',
  'Insert',
  'Home',
  'End',
  'PageUp',
  'PageDown',
  'ArrowLeft',
  'ArrowUp',
  'ArrowRight',
  'ArrowDown',
  'Shift',
  'Control',
  'Alt',
  'Meta',
  'CapsLock',
  'F1',
  'F2',
  'F3',
  'F4',
  'F5',
  'F6',
  'F7',
  'F8',
  'F9',
  'F10',
  'F11',
  'F12',
]);

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const canvas = /** @type {HTMLCanvasElement} */ ($('screen'));
const keyboard = /** @type {HTMLInputElement} */ ($('keyboard'));
const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
const ui = {
  connection: $('connection'),
  encryption: $('encryption'),
  latency: $('latency'),
  message: $('message'),
  done: /** @type {HTMLButtonElement} */ ($('done')),
  cancel: /** @type {HTMLButtonElement} */ ($('cancel')),
  fit: /** @type {HTMLButtonElement} */ ($('fit')),
  stage: $('stage'),
};

const sessionId = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() ?? '');
const token = new URLSearchParams(location.search).get('t') ?? '';
const secret = readFragmentSecret(location.hash);

/** @type {WebSocket | null} */
let ws = null;
/** @type {import('../../src/crypto/e2ee/e2eeSession.js').E2eeSession | null} */
let e2ee = null;
/**
 * The session being created for the current agent connection. Binary messages wait for it,
 * so an agent hello that arrives while our keys are still being generated is not lost.
 * @type {Promise<import('../../src/crypto/e2ee/e2eeSession.js').E2eeSession> | null}
 */
let e2eeReady = null;
/** @type {import('../../src/crypto/e2ee/handoffPayload.js').FrameMeta | null} */
let meta = null;
let drawn = { x: 0, y: 0, width: 0, height: 0 };
/** @type {{meta: any, image: Uint8Array} | null} */
let pendingFrame = null;
let decoding = false;
/** @type {ImageBitmap | null} */
let lastBitmap = null;
let finished = false;
let reconnectDelay = 500;
/** @type {ReturnType<typeof setInterval> | undefined} */
let pingTimer;

function setIndicator(
  /** @type {HTMLElement} */ el,
  /** @type {string} */ state,
  /** @type {string} */ text,
) {
  el.dataset['state'] = state;
  el.textContent = text;
}

function say(/** @type {string} */ text) {
  ui.message.textContent = text;
}

function isConfirmed() {
  return e2ee !== null && e2ee.isConfirmed;
}

function finish(/** @type {string} */ text) {
  finished = true;
  say(text);
  ui.done.disabled = true;
  ui.cancel.disabled = true;
  ui.fit.disabled = true;
  clearInterval(pingTimer);
  keyboard.blur();
}

// ---- connection and handshake ----

function connect() {
  if (finished) return;
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(
    `${scheme}://${location.host}/v1/handoff/${encodeURIComponent(sessionId)}/viewer?t=${encodeURIComponent(token)}`,
    ['loopgate.handoff.v1'],
  );
  socket.binaryType = 'arraybuffer';
  ws = socket;
  setIndicator(ui.connection, 'connecting', 'Connecting…');
  socket.onopen = () => {
    reconnectDelay = 500;
    setIndicator(ui.connection, 'warn', 'Connected · waiting for the agent');
  };
  socket.onmessage = (ev) => {
    if (typeof ev.data === 'string') void onControl(ev.data);
    else void onBinary(new Uint8Array(ev.data));
  };
  socket.onclose = (ev) => {
    if (ws !== socket) return;
    ws = null;
    e2ee = null;
    e2eeReady = null;
    clearInterval(pingTimer);
    const reason = closeReasons[/** @type {keyof typeof closeReasons} */ (ev.code)];
    if (finished) {
      setIndicator(ui.connection, 'ok', 'Session ended');
      setIndicator(ui.encryption, 'ok', 'Encryption: closed');
      return;
    }
    setIndicator(ui.encryption, 'pending', 'Encryption: waiting');
    if (finalCloseCodes.has(ev.code)) {
      setIndicator(ui.connection, 'error', 'Disconnected');
      finish(reason ?? 'Disconnected.');
      return;
    }
    setIndicator(ui.connection, 'error', reason ? `Reconnecting · ${reason}` : 'Reconnecting…');
    setTimeout(connect, reconnectDelay);
    reconnectDelay = Math.min(reconnectDelay * 2, 8000);
  };
}

/** Relay control: `{type:'peer', state}` and `{type:'status', status, detail?}`. */
async function onControl(/** @type {string} */ text) {
  /** @type {{type?: string, state?: string, status?: string, detail?: string}} */
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    return;
  }
  if (finished && msg.type === 'peer') return;
  if (msg.type === 'peer' && msg.state === 'connected') {
    setIndicator(ui.connection, 'ok', 'Connected');
    setIndicator(ui.encryption, 'pending', 'Encryption: checking keys');
    // Fresh keys for every agent connection; a session never re-keys.
    const ready = createE2eeSession({
      role: 'viewer',
      sessionId,
      fragmentSecret: /** @type {string} */ (secret),
    });
    e2eeReady = ready;
    e2ee = null;
    const session = await ready;
    if (e2eeReady !== ready) return;
    e2ee = session;
    ws?.send(await session.hello());
  } else if (msg.type === 'peer' && msg.state === 'disconnected') {
    e2ee = null;
    e2eeReady = null;
    setIndicator(ui.connection, 'warn', 'Connected · agent away');
    setIndicator(ui.encryption, 'pending', 'Encryption: waiting');
  } else if (msg.type === 'status' && msg.status && finalStatuses.has(msg.status)) {
    const texts = {
      resolved: 'Done. You can close this tab.',
      cancelled: 'Cancelled. You can close this tab.',
      timeout: 'This handoff timed out.',
      error: `The handoff ended with an error${msg.detail ? `: ${msg.detail}` : '.'}`,
    };
    finish(texts[/** @type {keyof typeof texts} */ (msg.status)]);
  }
}

async function onBinary(/** @type {Uint8Array} */ bytes) {
  const ready = e2eeReady;
  if (!ready) return;
  const session = await ready;
  if (ready !== e2eeReady) return;
  const result = await session.receive(bytes);
  if (ready !== e2eeReady) return;
  if (result.kind === 'hello') {
    ws?.send(result.reply);
  } else if (result.kind === 'confirmed') {
    setIndicator(ui.encryption, 'ok', 'End-to-end encrypted');
    say(meta ? '' : 'Waiting for the first picture…');
    clearInterval(pingTimer);
    pingTimer = setInterval(() => void sendMessage({ type: 'ping', t: performance.now() }), 2000);
    void sendMessage({ type: 'ping', t: performance.now() });
  } else if (result.kind === 'dropped') {
    // A hello left over from the agent's previous key exchange got here first: start over
    // with fresh keys on both sides (reconnecting does that).
    if (result.code === 'E_E2EE_REKEY_REFUSED' && !session.isConfirmed) ws?.close();
    else if (result.code === 'E_E2EE_HELLO_INVALID' || result.code === 'E_E2EE_CONFIRM_INVALID') {
      setIndicator(ui.encryption, 'error', 'Key check failed');
      say(
        'The keys did not check out: this link may have been altered, or someone is in between. Nothing you type is sent.',
      );
    }
  } else {
    const payload = decodeHandoffPayload(result.plaintext);
    if (payload?.kind === 'frame') queueFrame(payload);
    else if (payload?.kind === 'message') onAgentMessage(/** @type {any} */ (payload.value));
  }
}

function onAgentMessage(
  /** @type {{type?: string, t?: number, url?: string, popup?: boolean, reason?: string, message?: string}} */ msg,
) {
  if (msg.type === 'pong' && typeof msg.t === 'number') {
    const rtt = Math.round(performance.now() - msg.t);
    setIndicator(ui.latency, rtt < 150 ? 'ok' : 'warn', `RTT ${rtt} ms`);
  } else if (msg.type === 'target') {
    document.title = msg.popup ? 'loopgate · popup' : 'loopgate · live handoff';
  } else if (msg.type === 'inputRefused') {
    say(`Not sent to the page: ${msg.message ?? 'refused'}`);
    setTimeout(() => say(''), 3000);
  } else if (msg.type === 'ended') {
    say(msg.reason === 'stopped' ? 'The agent ended the session.' : 'The browser page is gone.');
  }
}

/** Sends one JSON message through the E2EE channel; false when the keys are not confirmed. */
async function sendMessage(/** @type {unknown} */ value) {
  const session = e2ee;
  const socket = ws;
  if (!session || !session.isConfirmed || !socket || socket.readyState !== WebSocket.OPEN)
    return false;
  const sealed = await session.seal(encodeMessagePayload(value));
  if (session === e2ee) socket.send(sealed);
  return true;
}

// ---- frames ----

function queueFrame(/** @type {{meta: any, image: Uint8Array}} */ frame) {
  // Only the newest frame matters; one is decoded at a time.
  pendingFrame = frame;
  if (!decoding) void drawPending();
}

async function drawPending() {
  decoding = true;
  while (pendingFrame) {
    const frame = pendingFrame;
    pendingFrame = null;
    try {
      const type = frame.meta.format === 'png' ? 'image/png' : 'image/jpeg';
      const bitmap = await createImageBitmap(
        new Blob([/** @type {BlobPart} */ (frame.image)], { type }),
      );
      lastBitmap?.close();
      lastBitmap = bitmap;
      meta = frame.meta;
      paint();
      if (ui.message.textContent === 'Waiting for the first picture…') say('');
      void sendMessage({ type: 'frameAck', frame: frame.meta.frame });
    } catch {
      // A frame that does not decode is skipped; the next one replaces it.
    }
  }
  decoding = false;
}

function paint() {
  const rect = canvas.getBoundingClientRect();
  // Pinch-zoomed in, the canvas gets more pixels, so the page stays sharp (up to 4096 a side).
  const zoom = window.visualViewport?.scale ?? 1;
  const dpr = Math.min(
    (window.devicePixelRatio || 1) * Math.max(zoom, 1),
    4096 / Math.max(rect.width, rect.height, 1),
  );
  const w = Math.round(rect.width * dpr);
  const h = Math.round(rect.height * dpr);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  ctx.fillStyle = '#111';
  ctx.fillRect(0, 0, w, h);
  if (!meta || !lastBitmap) return;
  drawn = fitFrame(rect.width, rect.height, meta.deviceWidth, meta.deviceHeight);
  ctx.drawImage(lastBitmap, drawn.x * dpr, drawn.y * dpr, drawn.width * dpr, drawn.height * dpr);
}

new ResizeObserver(() => paint()).observe(canvas);
window.visualViewport?.addEventListener('resize', () => paint());

// ---- input ----

/** Page coordinates under a client position, or null outside the drawn frame. */
function toPage(/** @type {number} */ clientX, /** @type {number} */ clientY) {
  if (!meta) return null;
  const rect = canvas.getBoundingClientRect();
  return mapToPage(
    clientX - rect.left,
    clientY - rect.top,
    drawn,
    meta.deviceWidth,
    meta.deviceHeight,
  );
}

/** Sends one input event; refused locally until the keys are confirmed and a frame is shown. */
function sendInput(/** @type {Record<string, unknown>} */ event) {
  if (!isConfirmed() || !meta) {
    say(
      isConfirmed()
        ? 'Waiting for the first picture…'
        : 'Input is disabled until encryption is confirmed.',
    );
    return;
  }
  void sendMessage(event);
}

function modifiers(/** @type {MouseEvent | KeyboardEvent} */ e) {
  return { alt: e.altKey, ctrl: e.ctrlKey, meta: e.metaKey, shift: e.shiftKey };
}

const buttonNames = /** @type {const} */ (['left', 'middle', 'right']);
let lastMove = 0;

canvas.addEventListener('mousedown', (e) => {
  e.preventDefault();
  focusKeyboard();
  const p = toPage(e.clientX, e.clientY);
  const button = buttonNames[e.button];
  if (p && button)
    sendInput({
      type: 'mouseDown',
      ...p,
      button,
      clickCount: Math.min(Math.max(e.detail, 1), 3),
      modifiers: modifiers(e),
    });
});
canvas.addEventListener('mouseup', (e) => {
  const p = toPage(e.clientX, e.clientY);
  const button = buttonNames[e.button];
  if (p && button)
    sendInput({
      type: 'mouseUp',
      ...p,
      button,
      clickCount: Math.min(Math.max(e.detail, 1), 3),
      modifiers: modifiers(e),
    });
});
canvas.addEventListener('mousemove', (e) => {
  const now = performance.now();
  if (now - lastMove < 33) return; // ≤ 30 moves/s keeps well under the relay's input rate limit
  lastMove = now;
  const p = toPage(e.clientX, e.clientY);
  if (p) sendInput({ type: 'mouseMove', ...p, buttons: e.buttons & 7, modifiers: modifiers(e) });
});
canvas.addEventListener('contextmenu', (e) => e.preventDefault());
canvas.addEventListener(
  'wheel',
  (e) => {
    e.preventDefault();
    const p = toPage(e.clientX, e.clientY);
    const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? (meta?.deviceHeight ?? 800) : 1;
    if (p)
      sendInput({
        type: 'wheel',
        ...p,
        deltaX: e.deltaX * unit,
        deltaY: e.deltaY * unit,
        modifiers: modifiers(e),
      });
  },
  { passive: false },
);

/** @type {{x: number, y: number, startX: number, startY: number, t: number, moved: boolean} | null} */
let touch = null;
canvas.addEventListener(
  'touchstart',
  (e) => {
    // Not prevented: a second finger makes it a pinch, which zooms this page (touch-action).
    const t = e.touches[0];
    if (!t || e.touches.length > 1) {
      touch = null;
      return;
    }
    touch = {
      x: t.clientX,
      y: t.clientY,
      startX: t.clientX,
      startY: t.clientY,
      t: performance.now(),
      moved: false,
    };
  },
  { passive: true },
);
canvas.addEventListener(
  'touchmove',
  (e) => {
    const t = e.touches[0];
    if (!t || !touch || !meta || e.touches.length > 1) return;
    e.preventDefault();
    if (Math.hypot(t.clientX - touch.startX, t.clientY - touch.startY) > 10) touch.moved = true;
    if (!touch.moved || performance.now() - lastMove < 33) return;
    lastMove = performance.now();
    const p = toPage(touch.startX, touch.startY);
    const scale = meta.deviceWidth / (drawn.width || 1);
    // The content follows the finger: moving up scrolls down.
    if (p)
      sendInput({
        type: 'touchScroll',
        ...p,
        deltaX: (touch.x - t.clientX) * scale,
        deltaY: (touch.y - t.clientY) * scale,
      });
    touch.x = t.clientX;
    touch.y = t.clientY;
  },
  { passive: false },
);
canvas.addEventListener('touchend', (e) => {
  // No mouse events after a touch: the tap is sent below, once.
  e.preventDefault();
  if (touch && !touch.moved && performance.now() - touch.t < 600) {
    const p = toPage(touch.startX, touch.startY);
    if (p) sendInput({ type: 'tap', ...p });
    focusKeyboard();
  }
  touch = null;
});

function focusKeyboard() {
  if (!finished) keyboard.focus({ preventScroll: true });
}

/** Keys we sent a keyDown for, so each gets its keyUp. */
const keysDown = new Map();

keyboard.addEventListener('keydown', (e) => {
  // Composition (IME, mobile keyboards) arrives as `input` events instead.
  if (e.isComposing || e.key === 'Unidentified' || e.key === 'Process' || e.keyCode === 229) return;
  const printable = [...e.key].length === 1;
  if (!printable && !namedKeys.has(e.key)) return;
  // Paste goes through the paste event as insertText.
  if (printable && (e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'v') return;
  e.preventDefault();
  keysDown.set(e.code || e.key, e.key);
  const event = { type: 'keyDown', key: e.key, modifiers: modifiers(e), repeat: e.repeat };
  sendInput(e.code ? { ...event, code: e.code } : event);
});
keyboard.addEventListener('keyup', (e) => {
  const key = keysDown.get(e.code || e.key);
  if (key === undefined) return;
  keysDown.delete(e.code || e.key);
  e.preventDefault();
  const event = { type: 'keyUp', key, modifiers: modifiers(e) };
  sendInput(e.code ? { ...event, code: e.code } : event);
});
keyboard.addEventListener('input', (e) => {
  const ev = /** @type {InputEvent} */ (e);
  if (ev.isComposing) return;
  if (ev.inputType === 'deleteContentBackward') sendInput({ type: 'keyPress', key: 'Backspace' });
  else if (ev.inputType === 'insertLineBreak') sendInput({ type: 'keyPress', key: 'Enter' });
  else if (keyboard.value) sendInput({ type: 'insertText', text: keyboard.value });
  keyboard.value = '';
});
keyboard.addEventListener('compositionend', () => {
  if (keyboard.value) sendInput({ type: 'insertText', text: keyboard.value });
  keyboard.value = '';
});
keyboard.addEventListener('paste', (e) => {
  e.preventDefault();
  const text = e.clipboardData?.getData('text/plain') ?? '';
  if (text) sendInput({ type: 'insertText', text: text.slice(0, 10000) });
});
canvas.addEventListener('focus', focusKeyboard);

// ---- Done and Cancel ----

async function act(/** @type {'done' | 'cancel'} */ action) {
  if (finished) return;
  // Only inside the encrypted channel: the agent side checks it came from a holder of the
  // #k= secret and ends the session; the relay then tells this page the status.
  if (!(await sendMessage({ type: action }))) {
    say(`${action === 'done' ? 'Done' : 'Cancel'} can be sent once encryption is confirmed.`);
    return;
  }
  finish(
    action === 'done' ? 'Done. You can close this tab.' : 'Cancelled. You can close this tab.',
  );
}
ui.done.addEventListener('click', () => void act('done'));

// ---- Fit to this screen ----

let fitted = false;

/**
 * Asks the agent (inside the encrypted channel) to lay its page out at the size this page has
 * for it, or to give the page its own size back. The agent restores it when the handoff ends.
 */
async function toggleFit() {
  if (finished) return;
  const message = fitted
    ? { type: 'restoreViewport' }
    : fitViewportMessage(ui.stage.clientWidth, ui.stage.clientHeight);
  if (!(await sendMessage(message))) {
    say('The size can be changed once encryption is confirmed.');
    return;
  }
  fitted = !fitted;
  ui.fit.textContent = fitted ? 'Restore size' : 'Fit to this screen';
  ui.fit.setAttribute('aria-pressed', String(fitted));
}
ui.fit.addEventListener('click', () => void toggleFit());
ui.cancel.addEventListener('click', () => void act('cancel'));

// ---- start ----

if (!globalThis.crypto?.subtle) {
  setIndicator(ui.encryption, 'error', 'No WebCrypto');
  finish('This page needs a secure connection (HTTPS) for end-to-end encryption.');
} else if (!secret) {
  setIndicator(ui.encryption, 'error', 'No key in link');
  finish('This link is incomplete: the part after # is missing. Open the full link you were sent.');
} else if (!sessionId) {
  finish('This link does not name a handoff.');
} else {
  say('Connecting…');
  connect();
}
