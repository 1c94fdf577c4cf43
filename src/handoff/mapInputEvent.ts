import { LoopgateError } from '../core/errors.js';
import type { InputEvent } from './inputEvent.js';
import {
  isPrintableKey,
  keyDefinitionsByCode,
  keyDefinitionsByKey,
  type KeyDefinition,
} from './keyDefinitions.js';

/**
 * The only CDP methods viewer input can ever produce. Everything else — `Runtime.evaluate`,
 * `Page.navigate`, `Network.*`, `Target.*` — is refused, so the person at the viewer can act
 * on the page as a user would and do nothing else to the agent's browser.
 */
export const inputCommandAllowlist: ReadonlySet<string> = new Set([
  'Input.dispatchMouseEvent',
  'Input.dispatchKeyEvent',
  'Input.insertText',
  'Page.getNavigationHistory',
  'Page.navigateToHistoryEntry',
  'Page.reload',
]);

/** One CDP command. */
export interface CdpCommand {
  method: string;
  params: Record<string, unknown>;
}

/**
 * One step of an input event: a command, or a move through session history, which needs the
 * history first (`Page.getNavigationHistory`, then `Page.navigateToHistoryEntry`).
 */
export type InputStep = CdpCommand | { historyDelta: -1 | 1 };

/** The streamed page's viewport in CSS pixels (screencast `deviceWidth` × `deviceHeight`). */
export interface Viewport {
  width: number;
  height: number;
}

/**
 * Refuses any command outside {@link inputCommandAllowlist}.
 *
 * @throws {LoopgateError} `E_HANDOFF_COMMAND_FORBIDDEN`.
 */
export function assertInputCommandAllowed(command: CdpCommand): void {
  if (!inputCommandAllowlist.has(command.method)) {
    throw new LoopgateError(
      'E_HANDOFF_COMMAND_FORBIDDEN',
      `Refused to send ${command.method} for viewer input; allowed: ${[...inputCommandAllowlist].join(', ')}.`,
    );
  }
}

type Modifiers =
  | {
      alt?: boolean | undefined;
      ctrl?: boolean | undefined;
      meta?: boolean | undefined;
      shift?: boolean | undefined;
    }
  | undefined;

/** CDP modifier bit field: Alt=1, Ctrl=2, Meta/Command=4, Shift=8. */
function modifierBits(m: Modifiers): number {
  return (m?.alt ? 1 : 0) | (m?.ctrl ? 2 : 0) | (m?.meta ? 4 : 0) | (m?.shift ? 8 : 0);
}

function checkPoint(viewport: Viewport, x: number, y: number, what: string): void {
  if (x < 0 || y < 0 || x >= viewport.width || y >= viewport.height) {
    throw new LoopgateError(
      'E_HANDOFF_INPUT_OUT_OF_VIEWPORT',
      `${what} at (${x}, ${y}) is outside the ${viewport.width}×${viewport.height} viewport; coordinates are CSS pixels from its top left.`,
    );
  }
}

const buttonBits = { left: 1, right: 2, middle: 4 } as const;

function mouse(
  type: string,
  x: number,
  y: number,
  extra: Record<string, unknown>,
  m?: Modifiers,
): CdpCommand {
  return {
    method: 'Input.dispatchMouseEvent',
    params: { type, x, y, modifiers: modifierBits(m), ...extra },
  };
}

function clickCommands(
  x: number,
  y: number,
  button: 'left' | 'middle' | 'right',
  clickCount: number,
  m?: Modifiers,
): CdpCommand[] {
  const down = buttonBits[button];
  return [
    mouse('mousePressed', x, y, { button, buttons: down, clickCount }, m),
    mouse('mouseReleased', x, y, { button, buttons: 0, clickCount }, m),
  ];
}

/** The resolved facts of one key event. */
export interface ResolvedKey {
  key: string;
  code: string;
  windowsVirtualKeyCode: number;
  text: string | undefined;
  location: number;
}

/**
 * Resolves a viewer `key` (and `code`, when the browser gave one) to what CDP needs.
 * The virtual-key code comes from the physical `code` when that key types this character
 * (`Numpad1` → 97), else from the character on a US layout (`.` → 190, `a`/`A` → 65), else 0
 * (characters of other scripts, which still type their text).
 *
 * @throws {LoopgateError} `E_HANDOFF_INPUT_INVALID` for a named key we do not know (`F13`,
 *   `Unidentified`, `AudioVolumeUp`…) or a `code` that contradicts a named `key`.
 */
export function resolveKey(
  key: string,
  code: string | undefined,
  modifiers?: Modifiers,
): ResolvedKey {
  const byCode: KeyDefinition | undefined = code ? keyDefinitionsByCode.get(code) : undefined;
  if (isPrintableKey(key)) {
    const byKey = keyDefinitionsByKey.get(key)?.definition;
    // The physical key wins when it does type this character (Numpad1 → 97); on another
    // layout (AZERTY's KeyQ typing "a") the character decides, as Windows does.
    const codeTypesKey = byCode !== undefined && (byCode.key === key || byCode.shiftKey === key);
    const definition = codeTypesKey ? byCode : (byKey ?? byCode);
    const vk = definition?.keyCode ?? 0;
    // Ctrl or Meta make a shortcut, not text (Alt may be AltGr typing a character).
    const typesText = !modifiers?.ctrl && !modifiers?.meta;
    return {
      key,
      code: code ?? definition?.code ?? '',
      windowsVirtualKeyCode: vk,
      text: typesText ? key : undefined,
      location: definition?.location ?? 0,
    };
  }
  const named = keyDefinitionsByKey.get(key)?.definition;
  if (!named) {
    throw new LoopgateError(
      'E_HANDOFF_INPUT_INVALID',
      `Unknown key "${key}"; expected one character or a named key such as Enter, Backspace, Tab, ArrowLeft.`,
    );
  }
  if (byCode && byCode.key !== key) {
    throw new LoopgateError(
      'E_HANDOFF_INPUT_INVALID',
      `Key "${key}" does not match code "${code}".`,
    );
  }
  const definition = byCode ?? named;
  return {
    key,
    code: definition.code,
    windowsVirtualKeyCode: definition.keyCode,
    text: modifiers?.ctrl || modifiers?.meta ? undefined : definition.text,
    location: definition.location ?? 0,
  };
}

function keyDown(resolved: ResolvedKey, m: Modifiers, autoRepeat = false): CdpCommand {
  const params: Record<string, unknown> = {
    // `keyDown` with text makes Chromium dispatch keydown, keypress and input, as a real key
    // does; `rawKeyDown` is keydown alone (no text: arrows, Backspace, shortcuts).
    type: resolved.text === undefined ? 'rawKeyDown' : 'keyDown',
    key: resolved.key,
    code: resolved.code,
    windowsVirtualKeyCode: resolved.windowsVirtualKeyCode,
    nativeVirtualKeyCode: resolved.windowsVirtualKeyCode,
    modifiers: modifierBits(m),
    location: resolved.location,
    autoRepeat,
    isKeypad: resolved.location === 3,
  };
  if (resolved.text !== undefined) {
    params['text'] = resolved.text;
    params['unmodifiedText'] = resolved.text;
  }
  return { method: 'Input.dispatchKeyEvent', params };
}

function keyUp(resolved: ResolvedKey, m: Modifiers): CdpCommand {
  return {
    method: 'Input.dispatchKeyEvent',
    params: {
      type: 'keyUp',
      key: resolved.key,
      code: resolved.code,
      windowsVirtualKeyCode: resolved.windowsVirtualKeyCode,
      nativeVirtualKeyCode: resolved.windowsVirtualKeyCode,
      modifiers: modifierBits(m),
      location: resolved.location,
      isKeypad: resolved.location === 3,
    },
  };
}

/**
 * Maps one validated viewer input event to the CDP steps that perform it on the page
 * (https://chromedevtools.github.io/devtools-protocol/tot/Input/). Taps and touch scrolls
 * become a left click and a mouse wheel: the agent's Chromium is a desktop browser without
 * touch emulation, and the page was laid out for a mouse. Every command is checked against
 * {@link inputCommandAllowlist} before it is returned.
 *
 * @throws {LoopgateError} `E_HANDOFF_INPUT_OUT_OF_VIEWPORT` (a coordinate outside `viewport`),
 *   `E_HANDOFF_INPUT_INVALID` (an unknown named key).
 */
export function mapInputEvent(event: InputEvent, viewport: Viewport): InputStep[] {
  const steps = mapUnchecked(event, viewport);
  for (const step of steps) if ('method' in step) assertInputCommandAllowed(step);
  return steps;
}

function mapUnchecked(event: InputEvent, viewport: Viewport): InputStep[] {
  switch (event.type) {
    case 'mouseMove': {
      checkPoint(viewport, event.x, event.y, 'mouseMove');
      const buttons = event.buttons ?? 0;
      const button = buttons & 1 ? 'left' : buttons & 2 ? 'right' : buttons & 4 ? 'middle' : 'none';
      return [mouse('mouseMoved', event.x, event.y, { button, buttons }, event.modifiers)];
    }
    case 'mouseDown':
    case 'mouseUp': {
      checkPoint(viewport, event.x, event.y, event.type);
      const pressed = event.type === 'mouseDown';
      return [
        mouse(
          pressed ? 'mousePressed' : 'mouseReleased',
          event.x,
          event.y,
          {
            button: event.button,
            buttons: pressed ? buttonBits[event.button] : 0,
            clickCount: event.clickCount ?? 1,
          },
          event.modifiers,
        ),
      ];
    }
    case 'click':
    case 'tap': {
      checkPoint(viewport, event.x, event.y, event.type);
      const m = event.type === 'click' ? event.modifiers : undefined;
      const button = event.type === 'click' ? (event.button ?? 'left') : 'left';
      return [
        mouse('mouseMoved', event.x, event.y, { button: 'none', buttons: 0 }, m),
        ...clickCommands(event.x, event.y, button, 1, m),
      ];
    }
    case 'dblclick':
      checkPoint(viewport, event.x, event.y, 'dblclick');
      return [
        mouse('mouseMoved', event.x, event.y, { button: 'none', buttons: 0 }, event.modifiers),
        ...clickCommands(event.x, event.y, 'left', 1, event.modifiers),
        ...clickCommands(event.x, event.y, 'left', 2, event.modifiers),
      ];
    case 'drag': {
      const { from, to } = event;
      checkPoint(viewport, from.x, from.y, 'drag start');
      checkPoint(viewport, to.x, to.y, 'drag end');
      const steps = event.steps ?? 5;
      const moves: CdpCommand[] = [];
      for (let i = 1; i <= steps; i++) {
        const x = from.x + ((to.x - from.x) * i) / steps;
        const y = from.y + ((to.y - from.y) * i) / steps;
        moves.push(mouse('mouseMoved', x, y, { button: 'left', buttons: 1 }));
      }
      return [
        mouse('mouseMoved', from.x, from.y, { button: 'none', buttons: 0 }),
        mouse('mousePressed', from.x, from.y, { button: 'left', buttons: 1, clickCount: 1 }),
        ...moves,
        mouse('mouseReleased', to.x, to.y, { button: 'left', buttons: 0, clickCount: 1 }),
      ];
    }
    case 'wheel':
    case 'touchScroll':
      checkPoint(viewport, event.x, event.y, event.type);
      return [
        mouse(
          'mouseWheel',
          event.x,
          event.y,
          { deltaX: event.deltaX, deltaY: event.deltaY },
          event.type === 'wheel' ? event.modifiers : undefined,
        ),
      ];
    case 'keyDown':
      return [
        keyDown(
          resolveKey(event.key, event.code, event.modifiers),
          event.modifiers,
          event.repeat ?? false,
        ),
      ];
    case 'keyUp':
      return [keyUp(resolveKey(event.key, event.code, event.modifiers), event.modifiers)];
    case 'keyPress': {
      const resolved = resolveKey(event.key, event.code, event.modifiers);
      return [keyDown(resolved, event.modifiers), keyUp(resolved, event.modifiers)];
    }
    case 'insertText':
      return [{ method: 'Input.insertText', params: { text: event.text } }];
    case 'navigate':
      if (event.action === 'reload') return [{ method: 'Page.reload', params: {} }];
      return [{ historyDelta: event.action === 'back' ? -1 : 1 }];
  }
}
