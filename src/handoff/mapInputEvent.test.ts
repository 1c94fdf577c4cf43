import { describe, expect, it } from 'vitest';
import { isLoopgateError } from '../core/errors.js';
import { validateInputEvent, type InputEvent } from './inputEvent.js';
import {
  assertInputCommandAllowed,
  inputCommandAllowlist,
  mapInputEvent,
  type CdpCommand,
} from './mapInputEvent.js';

const viewport = { width: 390, height: 844 };

function map(event: unknown): CdpCommand[] {
  const v = validateInputEvent(event);
  if (!v.ok) throw new Error(v.message);
  return mapInputEvent(v.value, viewport).filter((s): s is CdpCommand => 'method' in s);
}

function keyDownParams(
  event: Omit<Extract<InputEvent, { type: 'keyDown' }>, 'type'>,
): Record<string, unknown> {
  return map({ type: 'keyDown', ...event })[0]!.params;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isLoopgateError(err) ? err.code : `not a LoopgateError: ${String(err)}`;
  }
  return undefined;
}

describe('key mapping', () => {
  it.each([
    ['a', undefined, 'KeyA', 65],
    ['A', undefined, 'KeyA', 65],
    ['z', 'KeyZ', 'KeyZ', 90],
    ['1', undefined, 'Digit1', 49],
    ['!', undefined, 'Digit1', 49],
    ['.', undefined, 'Period', 190],
    ['.', 'Period', 'Period', 190],
    [',', undefined, 'Comma', 188],
    ['-', undefined, 'Minus', 189],
    ['_', undefined, 'Minus', 189],
    ['@', undefined, 'Digit2', 50],
    ['/', undefined, 'Slash', 191],
    [';', undefined, 'Semicolon', 186],
    ["'", undefined, 'Quote', 222],
    [' ', undefined, 'Space', 32],
    ['1', 'Numpad1', 'Numpad1', 97],
    ['.', 'NumpadDecimal', 'NumpadDecimal', 110],
    ['a', 'KeyQ', 'KeyQ', 65], // AZERTY: the character decides the virtual-key code
  ])(
    'key %j (code %s) types its text with code %s and virtual-key code %i',
    (key, code, wantCode, vk) => {
      const p = keyDownParams(code ? { key, code } : { key });
      expect(p).toMatchObject({
        type: 'keyDown',
        key,
        code: wantCode,
        windowsVirtualKeyCode: vk,
        nativeVirtualKeyCode: vk,
        text: key,
      });
    },
  );

  it('never maps "." to the Delete key code (46)', () => {
    expect(keyDownParams({ key: '.' })['windowsVirtualKeyCode']).not.toBe(46);
    expect(keyDownParams({ key: 'Delete' })).toMatchObject({
      type: 'rawKeyDown',
      code: 'Delete',
      windowsVirtualKeyCode: 46,
    });
  });

  it.each([
    ['Enter', 13, '\r'],
    ['Backspace', 8, undefined],
    ['Tab', 9, undefined],
    ['Escape', 27, undefined],
    ['ArrowLeft', 37, undefined],
    ['ArrowUp', 38, undefined],
    ['ArrowRight', 39, undefined],
    ['ArrowDown', 40, undefined],
    ['Home', 36, undefined],
    ['End', 35, undefined],
    ['Shift', 16, undefined],
  ])('named key %s has virtual-key code %i and text %j', (key, vk, text) => {
    const p = keyDownParams({ key });
    expect(p['windowsVirtualKeyCode']).toBe(vk);
    expect(p['text']).toBe(text);
    expect(p['type']).toBe(text ? 'keyDown' : 'rawKeyDown');
  });

  it('sends a shortcut without text when Ctrl or Meta is held, with the modifier bits', () => {
    expect(keyDownParams({ key: 'a', code: 'KeyA', modifiers: { ctrl: true } })).toMatchObject({
      type: 'rawKeyDown',
      modifiers: 2,
      windowsVirtualKeyCode: 65,
    });
    expect(keyDownParams({ key: 'a', modifiers: { ctrl: true } })['text']).toBeUndefined();
    expect(keyDownParams({ key: 'A', modifiers: { shift: true } })).toMatchObject({
      text: 'A',
      modifiers: 8,
    });
  });

  it('types characters of other scripts with their text', () => {
    expect(keyDownParams({ key: 'é' })).toMatchObject({
      type: 'keyDown',
      text: 'é',
      windowsVirtualKeyCode: 0,
    });
  });

  it('makes keyPress a keyDown and a keyUp, and keyUp carries no text', () => {
    const [down, up] = map({ type: 'keyPress', key: 'Enter' });
    expect(down!.params).toMatchObject({ type: 'keyDown', text: '\r' });
    expect(up!.params).toMatchObject({
      type: 'keyUp',
      key: 'Enter',
      code: 'Enter',
      windowsVirtualKeyCode: 13,
    });
    expect(up!.params['text']).toBeUndefined();
  });

  it('refuses unknown named keys and a code that contradicts a named key', () => {
    for (const key of ['F13', 'Unidentified', 'AudioVolumeUp', 'Process']) {
      expect(
        codeOf(() => map({ type: 'keyDown', key })),
        key,
      ).toBe('E_HANDOFF_INPUT_INVALID');
    }
    expect(codeOf(() => map({ type: 'keyDown', key: 'Enter', code: 'KeyA' }))).toBe(
      'E_HANDOFF_INPUT_INVALID',
    );
  });
});

describe('mouse, touch, text and history mapping', () => {
  it('makes a click a move, a press and a release at the point', () => {
    expect(map({ type: 'click', x: 10, y: 20 })).toEqual([
      {
        method: 'Input.dispatchMouseEvent',
        params: { type: 'mouseMoved', x: 10, y: 20, button: 'none', buttons: 0, modifiers: 0 },
      },
      {
        method: 'Input.dispatchMouseEvent',
        params: {
          type: 'mousePressed',
          x: 10,
          y: 20,
          button: 'left',
          buttons: 1,
          clickCount: 1,
          modifiers: 0,
        },
      },
      {
        method: 'Input.dispatchMouseEvent',
        params: {
          type: 'mouseReleased',
          x: 10,
          y: 20,
          button: 'left',
          buttons: 0,
          clickCount: 1,
          modifiers: 0,
        },
      },
    ]);
  });

  it('makes a double click two press/release pairs with clickCount 1 then 2', () => {
    const counts = map({ type: 'dblclick', x: 5, y: 5 })
      .filter((c) => c.params['type'] !== 'mouseMoved')
      .map((c) => [c.params['type'], c.params['clickCount']]);
    expect(counts).toEqual([
      ['mousePressed', 1],
      ['mouseReleased', 1],
      ['mousePressed', 2],
      ['mouseReleased', 2],
    ]);
  });

  it('makes a drag a press, moves with the button held, and a release at the end', () => {
    const cmds = map({ type: 'drag', from: { x: 0, y: 0 }, to: { x: 100, y: 50 }, steps: 2 });
    expect(
      cmds.map((c) => [c.params['type'], c.params['x'], c.params['y'], c.params['buttons']]),
    ).toEqual([
      ['mouseMoved', 0, 0, 0],
      ['mousePressed', 0, 0, 1],
      ['mouseMoved', 50, 25, 1],
      ['mouseMoved', 100, 50, 1],
      ['mouseReleased', 100, 50, 0],
    ]);
  });

  it('maps wheel and touch scroll to mouseWheel, and a tap to a left click', () => {
    expect(map({ type: 'wheel', x: 1, y: 2, deltaX: 0, deltaY: 120 })[0]!.params).toMatchObject({
      type: 'mouseWheel',
      deltaY: 120,
    });
    expect(
      map({ type: 'touchScroll', x: 1, y: 2, deltaX: 0, deltaY: -300 })[0]!.params,
    ).toMatchObject({ type: 'mouseWheel', deltaY: -300 });
    expect(map({ type: 'tap', x: 30, y: 40 }).map((c) => c.params['type'])).toEqual([
      'mouseMoved',
      'mousePressed',
      'mouseReleased',
    ]);
  });

  it('pastes with Input.insertText and moves through history', () => {
    expect(map({ type: 'insertText', text: '493 201' })).toEqual([
      { method: 'Input.insertText', params: { text: '493 201' } },
    ]);
    const v = validateInputEvent({ type: 'navigate', action: 'back' });
    expect(v.ok && mapInputEvent(v.value, viewport)).toEqual([{ historyDelta: -1 }]);
    expect(map({ type: 'navigate', action: 'reload' })).toEqual([
      { method: 'Page.reload', params: {} },
    ]);
  });

  it('refuses coordinates outside the viewport, edges included', () => {
    expect(codeOf(() => map({ type: 'click', x: 390, y: 10 }))).toBe(
      'E_HANDOFF_INPUT_OUT_OF_VIEWPORT',
    );
    expect(codeOf(() => map({ type: 'tap', x: 10, y: 844 }))).toBe(
      'E_HANDOFF_INPUT_OUT_OF_VIEWPORT',
    );
    expect(codeOf(() => map({ type: 'drag', from: { x: 1, y: 1 }, to: { x: 1, y: 2000 } }))).toBe(
      'E_HANDOFF_INPUT_OUT_OF_VIEWPORT',
    );
    expect(codeOf(() => map({ type: 'wheel', x: 1000, y: 1, deltaX: 0, deltaY: 1 }))).toBe(
      'E_HANDOFF_INPUT_OUT_OF_VIEWPORT',
    );
    expect(codeOf(() => map({ type: 'click', x: 389.5, y: 843.5 }))).toBeUndefined();
  });

  it('only ever produces allowlisted methods', () => {
    const events: unknown[] = [
      { type: 'mouseMove', x: 1, y: 1, buttons: 1 },
      { type: 'mouseDown', x: 1, y: 1, button: 'right' },
      { type: 'mouseUp', x: 1, y: 1, button: 'right' },
      { type: 'click', x: 1, y: 1 },
      { type: 'dblclick', x: 1, y: 1 },
      { type: 'drag', from: { x: 1, y: 1 }, to: { x: 2, y: 2 } },
      { type: 'wheel', x: 1, y: 1, deltaX: 1, deltaY: 1 },
      { type: 'tap', x: 1, y: 1 },
      { type: 'touchScroll', x: 1, y: 1, deltaX: 1, deltaY: 1 },
      { type: 'keyDown', key: 'x' },
      { type: 'keyUp', key: 'x' },
      { type: 'keyPress', key: 'Tab' },
      { type: 'insertText', text: 'x' },
      { type: 'navigate', action: 'reload' },
    ];
    const methods = new Set(events.flatMap((e) => map(e).map((c) => c.method)));
    for (const m of methods) expect(inputCommandAllowlist.has(m), m).toBe(true);
    expect(methods.size).toBeGreaterThanOrEqual(4);
  });

  it('refuses any other CDP command at the last step', () => {
    for (const method of [
      'Runtime.evaluate',
      'Page.navigate',
      'Network.getCookies',
      'Target.createTarget',
      'Input.setIgnoreInputEvents',
    ]) {
      expect(
        codeOf(() => assertInputCommandAllowed({ method, params: {} })),
        method,
      ).toBe('E_HANDOFF_COMMAND_FORBIDDEN');
    }
  });
});

describe('validateInputEvent', () => {
  it.each([
    [{ type: 'evaluate', expression: 'document.cookie' }, /Unknown input event type "evaluate"/],
    [{ type: 'Page.navigate', url: 'https://evil.example' }, /Unknown input event type/],
    [{ x: 1, y: 1 }, /Unknown input event type undefined/],
    ['click', /Unknown input event type/],
    [null, /Unknown input event type/],
    [{ type: 'click', x: 1 }, /click: y:/],
    [{ type: 'click', x: -1, y: 1 }, /click: x:/],
    [{ type: 'click', x: Number.NaN, y: 1 }, /click: x:/],
    [{ type: 'click', x: 1, y: 1, expression: 'x' }, /click/],
    [{ type: 'mouseDown', x: 1, y: 1, button: 'back' }, /button/],
    [{ type: 'insertText', text: 'x'.repeat(10_001) }, /text/],
    [{ type: 'insertText', text: '' }, /text/],
    [{ type: 'keyDown', key: 'x'.repeat(33) }, /key/],
    [{ type: 'keyDown', key: 'a', code: 'Key A; drop' }, /code/],
    [{ type: 'navigate', action: 'goto' }, /action/],
  ])('refuses %j', (event, message) => {
    const v = validateInputEvent(event);
    expect(v.ok).toBe(false);
    if (!v.ok) {
      expect(v.code).toBe('E_HANDOFF_INPUT_INVALID');
      expect(v.message).toMatch(message);
    }
  });
});
