/**
 * The keyboard facts CDP's `Input.dispatchKeyEvent` needs and a browser's KeyboardEvent does
 * not carry: the Windows virtual-key code (what `keyCode` and `which` become in the page) and
 * the text a key types. Codes follow the UI Events KeyboardEvent code values
 * (https://www.w3.org/TR/uievents-code/) on a US layout; virtual-key codes follow Windows'
 * VK_* table — `.` is VK_OEM_PERIOD (190), not 46, which is VK_DELETE.
 */

/** One physical key. */
export interface KeyDefinition {
  /** UI Events `code`, e.g. `KeyA`, `Digit1`, `Period`. */
  code: string;
  /** `key` without Shift, e.g. `a`, `1`, `.`, `Enter`. */
  key: string;
  /** `key` with Shift when it differs, e.g. `A`, `!`, `>`. */
  shiftKey?: string;
  /** Windows virtual-key code. */
  keyCode: number;
  /** Text the key types when it is not a character key itself (Enter types `\r`). */
  text?: string;
  /** KeyboardEvent.location: 1 left, 2 right, 3 numpad. */
  location?: number;
}

const definitions: KeyDefinition[] = [];

for (let i = 0; i < 26; i++) {
  const lower = String.fromCharCode(97 + i);
  definitions.push({
    code: `Key${lower.toUpperCase()}`,
    key: lower,
    shiftKey: lower.toUpperCase(),
    keyCode: 65 + i,
  });
}
const shiftedDigits = ')!@#$%^&*(';
for (let d = 0; d <= 9; d++) {
  definitions.push({
    code: `Digit${d}`,
    key: String(d),
    shiftKey: shiftedDigits[d]!,
    keyCode: 48 + d,
  });
}
for (let d = 0; d <= 9; d++) {
  definitions.push({ code: `Numpad${d}`, key: String(d), keyCode: 96 + d, location: 3 });
}
for (let f = 1; f <= 12; f++) definitions.push({ code: `F${f}`, key: `F${f}`, keyCode: 111 + f });

definitions.push(
  { code: 'Semicolon', key: ';', shiftKey: ':', keyCode: 186 },
  { code: 'Equal', key: '=', shiftKey: '+', keyCode: 187 },
  { code: 'Comma', key: ',', shiftKey: '<', keyCode: 188 },
  { code: 'Minus', key: '-', shiftKey: '_', keyCode: 189 },
  { code: 'Period', key: '.', shiftKey: '>', keyCode: 190 },
  { code: 'Slash', key: '/', shiftKey: '?', keyCode: 191 },
  { code: 'Backquote', key: '`', shiftKey: '~', keyCode: 192 },
  { code: 'BracketLeft', key: '[', shiftKey: '{', keyCode: 219 },
  { code: 'Backslash', key: '\\', shiftKey: '|', keyCode: 220 },
  { code: 'BracketRight', key: ']', shiftKey: '}', keyCode: 221 },
  { code: 'Quote', key: "'", shiftKey: '"', keyCode: 222 },
  { code: 'Space', key: ' ', keyCode: 32 },
  { code: 'NumpadDecimal', key: '.', keyCode: 110, location: 3 },
  { code: 'NumpadAdd', key: '+', keyCode: 107, location: 3 },
  { code: 'NumpadSubtract', key: '-', keyCode: 109, location: 3 },
  { code: 'NumpadMultiply', key: '*', keyCode: 106, location: 3 },
  { code: 'NumpadDivide', key: '/', keyCode: 111, location: 3 },
  { code: 'NumpadEnter', key: 'Enter', keyCode: 13, text: '\r', location: 3 },
  { code: 'Enter', key: 'Enter', keyCode: 13, text: '\r' },
  { code: 'Backspace', key: 'Backspace', keyCode: 8 },
  { code: 'Tab', key: 'Tab', keyCode: 9 },
  { code: 'Escape', key: 'Escape', keyCode: 27 },
  { code: 'Delete', key: 'Delete', keyCode: 46 },
  { code: 'Insert', key: 'Insert', keyCode: 45 },
  { code: 'Home', key: 'Home', keyCode: 36 },
  { code: 'End', key: 'End', keyCode: 35 },
  { code: 'PageUp', key: 'PageUp', keyCode: 33 },
  { code: 'PageDown', key: 'PageDown', keyCode: 34 },
  { code: 'ArrowLeft', key: 'ArrowLeft', keyCode: 37 },
  { code: 'ArrowUp', key: 'ArrowUp', keyCode: 38 },
  { code: 'ArrowRight', key: 'ArrowRight', keyCode: 39 },
  { code: 'ArrowDown', key: 'ArrowDown', keyCode: 40 },
  { code: 'ShiftLeft', key: 'Shift', keyCode: 16, location: 1 },
  { code: 'ShiftRight', key: 'Shift', keyCode: 16, location: 2 },
  { code: 'ControlLeft', key: 'Control', keyCode: 17, location: 1 },
  { code: 'ControlRight', key: 'Control', keyCode: 17, location: 2 },
  { code: 'AltLeft', key: 'Alt', keyCode: 18, location: 1 },
  { code: 'AltRight', key: 'Alt', keyCode: 18, location: 2 },
  { code: 'MetaLeft', key: 'Meta', keyCode: 91, location: 1 },
  { code: 'MetaRight', key: 'Meta', keyCode: 92, location: 2 },
  { code: 'CapsLock', key: 'CapsLock', keyCode: 20 },
);

/** Key definitions by `code`. */
export const keyDefinitionsByCode: ReadonlyMap<string, KeyDefinition> = new Map(
  definitions.map((d) => [d.code, d]),
);

/**
 * The main-keyboard definition for a `key` value (`a`, `A`, `!`, `.`, `Enter`, `Shift`…), and
 * whether it is the shifted meaning. Numpad keys are reached only through their `code`.
 */
export const keyDefinitionsByKey: ReadonlyMap<
  string,
  { definition: KeyDefinition; shifted: boolean }
> = (() => {
  const byKey = new Map<string, { definition: KeyDefinition; shifted: boolean }>();
  for (const d of definitions) {
    if (d.location === 3 || d.location === 2) continue;
    if (!byKey.has(d.key)) byKey.set(d.key, { definition: d, shifted: false });
    if (d.shiftKey && !byKey.has(d.shiftKey))
      byKey.set(d.shiftKey, { definition: d, shifted: true });
  }
  return byKey;
})();

/** True when `key` is one printable character (one code point, not a control character). */
export function isPrintableKey(key: string): boolean {
  const chars = [...key];
  return chars.length === 1 && !/\p{Cc}/u.test(key);
}
