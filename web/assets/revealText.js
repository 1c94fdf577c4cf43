// @ts-check
/**
 * Agent text as a human must read it before deciding: every character that could hide, move or
 * reorder what will run is shown as a visible marker instead of being obeyed (DESIGN.md "Threat
 * model": the agent must never hide from the human any part of what will run).
 *
 * Shown as markers (`⟨…⟩`):
 * - runs of 3 or more spaces, with their count: `⟨5000 spaces⟩` (pushes the rest out of view);
 * - tabs and line breaks: `⟨tab⟩`, `⟨newline⟩` (followed by a real break), `⟨3 newlines⟩`;
 * - control characters (Unicode Cc), format characters (Cf: bidi embeddings, overrides and
 *   isolates U+202A–U+202E and U+2066–U+2069, zero-width characters U+200B–U+200F, U+2060–U+2064,
 *   U+FEFF, soft hyphen, tag characters…), line and paragraph separators (Zl, Zp), spaces other
 *   than U+0020 (Zs), private-use and unassigned code points, lone surrogates, variation
 *   selectors and the invisible fillers (U+034F, U+115F, U+1160, U+3164, U+FFA0, U+2800), each as
 *   `⟨U+202E RIGHT-TO-LEFT OVERRIDE⟩`, and a run of one of them as `⟨12 × U+200B ZERO WIDTH SPACE⟩`.
 *
 * "Trojan Source" (CVE-2021-42574, Unicode TR #9 explicit formatting) is why bidi controls are
 * never rendered. This is the pages' copy of `src/core/revealText.ts` (the server, Slack and email
 * use that one); a test runs both over one list of tricky strings and expects the same output.
 *
 * Pure: no DOM.
 */

/**
 * One piece of revealed text. `mark` is a marker for hidden characters; `break` a line break.
 * @typedef {{ kind: 'text', text: string }
 *   | { kind: 'mark', text: string, title: string }
 *   | { kind: 'break' }
 *   | { kind: 'indent', width: number }} RevealedPart
 */

/** Runs of U+0020 at least this long are shown as `⟨N spaces⟩`. */
export const minMarkedSpaceRun = 3;

/** @type {Readonly<Record<number, string>>} */
const namedCharacters = {
  0x00: 'NULL',
  0x07: 'BELL',
  0x08: 'BACKSPACE',
  0x0b: 'LINE TABULATION',
  0x0c: 'FORM FEED',
  0x0d: 'CARRIAGE RETURN',
  0x1b: 'ESCAPE',
  0x7f: 'DELETE',
  0x85: 'NEXT LINE',
  0xa0: 'NO-BREAK SPACE',
  0xad: 'SOFT HYPHEN',
  0x034f: 'COMBINING GRAPHEME JOINER',
  0x061c: 'ARABIC LETTER MARK',
  0x115f: 'HANGUL CHOSEONG FILLER',
  0x1160: 'HANGUL JUNGSEONG FILLER',
  0x1680: 'OGHAM SPACE MARK',
  0x180e: 'MONGOLIAN VOWEL SEPARATOR',
  0x2000: 'EN QUAD',
  0x2001: 'EM QUAD',
  0x2002: 'EN SPACE',
  0x2003: 'EM SPACE',
  0x2004: 'THREE-PER-EM SPACE',
  0x2005: 'FOUR-PER-EM SPACE',
  0x2006: 'SIX-PER-EM SPACE',
  0x2007: 'FIGURE SPACE',
  0x2008: 'PUNCTUATION SPACE',
  0x2009: 'THIN SPACE',
  0x200a: 'HAIR SPACE',
  0x200b: 'ZERO WIDTH SPACE',
  0x200c: 'ZERO WIDTH NON-JOINER',
  0x200d: 'ZERO WIDTH JOINER',
  0x200e: 'LEFT-TO-RIGHT MARK',
  0x200f: 'RIGHT-TO-LEFT MARK',
  0x2028: 'LINE SEPARATOR',
  0x2029: 'PARAGRAPH SEPARATOR',
  0x202a: 'LEFT-TO-RIGHT EMBEDDING',
  0x202b: 'RIGHT-TO-LEFT EMBEDDING',
  0x202c: 'POP DIRECTIONAL FORMATTING',
  0x202d: 'LEFT-TO-RIGHT OVERRIDE',
  0x202e: 'RIGHT-TO-LEFT OVERRIDE',
  0x202f: 'NARROW NO-BREAK SPACE',
  0x205f: 'MEDIUM MATHEMATICAL SPACE',
  0x2060: 'WORD JOINER',
  0x2061: 'FUNCTION APPLICATION',
  0x2062: 'INVISIBLE TIMES',
  0x2063: 'INVISIBLE SEPARATOR',
  0x2064: 'INVISIBLE PLUS',
  0x2066: 'LEFT-TO-RIGHT ISOLATE',
  0x2067: 'RIGHT-TO-LEFT ISOLATE',
  0x2068: 'FIRST STRONG ISOLATE',
  0x2069: 'POP DIRECTIONAL ISOLATE',
  0x2800: 'BRAILLE PATTERN BLANK',
  0x3000: 'IDEOGRAPHIC SPACE',
  0x3164: 'HANGUL FILLER',
  0xfeff: 'ZERO WIDTH NO-BREAK SPACE',
  0xffa0: 'HALFWIDTH HANGUL FILLER',
  0xfffc: 'OBJECT REPLACEMENT CHARACTER',
};

// Everything that is not plainly visible. `u` mode iterates code points, so a lone surrogate
// is matched on its own (\p{Cs}).
const hiddenCharacter =
  /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Zs}\p{Co}\p{Cn}\p{Cs}\u034F\u115F\u1160\u2800\u3164\uFFA0\uFFFC\uFE00-\uFE0F\u{E0100}-\u{E01EF}]/u;

/**
 * Uppercase hex code point, at least 4 digits: `U+202E`.
 * @param {number} codePoint
 * @returns {string}
 */
function formatCodePoint(codePoint) {
  return `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * The Unicode name (or, for the unnamed ones, the kind) of a hidden character.
 * @param {number} codePoint
 * @returns {string}
 */
function nameOf(codePoint) {
  const named = namedCharacters[codePoint];
  if (named) return named;
  if (codePoint >= 0xfe00 && codePoint <= 0xfe0f)
    return `VARIATION SELECTOR-${codePoint - 0xfe00 + 1}`;
  if (codePoint >= 0xe0100 && codePoint <= 0xe01ef)
    return `VARIATION SELECTOR-${codePoint - 0xe0100 + 17}`;
  if (codePoint >= 0xe0000 && codePoint <= 0xe007f) return 'TAG CHARACTER';
  if (codePoint >= 0xd800 && codePoint <= 0xdfff) return 'LONE SURROGATE';
  if (codePoint <= 0x1f || (codePoint >= 0x7f && codePoint <= 0x9f)) return 'CONTROL CHARACTER';
  if (/\p{Co}/u.test(String.fromCodePoint(codePoint))) return 'PRIVATE USE CHARACTER';
  if (/\p{Cn}/u.test(String.fromCodePoint(codePoint))) return 'UNASSIGNED CODE POINT';
  return 'INVISIBLE CHARACTER';
}

/**
 * The marker for `count` consecutive copies of `codePoint`.
 * @param {number} codePoint
 * @param {number} count
 * @returns {{ kind: 'mark', text: string, title: string }}
 */
function markerFor(codePoint, count) {
  if (codePoint === 0x20)
    return { kind: 'mark', text: `⟨${count} spaces⟩`, title: `${count} spaces` };
  if (codePoint === 0x09) {
    const text = count === 1 ? 'tab' : `${count} tabs`;
    return { kind: 'mark', text: `⟨${text}⟩`, title: text };
  }
  if (codePoint === 0x0a) {
    const text = count === 1 ? 'newline' : `${count} newlines`;
    return { kind: 'mark', text: `⟨${text}⟩`, title: text };
  }
  const name = `${formatCodePoint(codePoint)} ${nameOf(codePoint)}`;
  const text = count === 1 ? name : `${count} × ${name}`;
  return { kind: 'mark', text: `⟨${text}⟩`, title: `Hidden character: ${text}` };
}

/**
 * Splits `text` into plain text and markers for every hidden character (see the module
 * comment). A run of the same hidden character is one marker with its count; a run of
 * newlines is one marker followed by one `break`.
 * @param {string} text
 * @returns {RevealedPart[]}
 */
export function revealText(text) {
  /** @type {RevealedPart[]} */
  const parts = [];
  let plain = '';
  const flush = () => {
    if (plain !== '') parts.push({ kind: 'text', text: plain });
    plain = '';
  };
  const chars = Array.from(text);
  for (let i = 0; i < chars.length;) {
    const char = /** @type {string} */ (chars[i]);
    const codePoint = /** @type {number} */ (char.codePointAt(0));
    let run = 1;
    while (i + run < chars.length && chars[i + run] === char) run++;
    if (codePoint === 0x20) {
      if (run >= minMarkedSpaceRun) {
        flush();
        parts.push(markerFor(codePoint, run));
      } else {
        plain += char.repeat(run);
      }
      i += run;
      continue;
    }
    if (!hiddenCharacter.test(char)) {
      plain += char;
      i += 1;
      continue;
    }
    flush();
    parts.push(markerFor(codePoint, run));
    if (codePoint === 0x0a) parts.push({ kind: 'break' });
    i += run;
  }
  flush();
  return parts;
}

/**
 * One `action_details` value (or tool argument) revealed in full: a string as
 * {@link revealText}; a number, boolean or null as its JSON literal (`12450`, `true`); an object
 * or array as JSON indented by 2 spaces, every line break and indentation structural (JSON never
 * holds a raw line break inside a string) and the rest of each line revealed. Nothing is elided.
 * @param {unknown} value
 * @returns {RevealedPart[]}
 */
export function revealDetailValue(value) {
  if (typeof value === 'string') return revealText(value);
  if (value === undefined) return [];
  if (value === null || typeof value !== 'object')
    return revealText(String(JSON.stringify(value) ?? value));
  /** @type {RevealedPart[]} */
  const parts = [];
  let json;
  try {
    json = JSON.stringify(value, null, 2) ?? '';
  } catch {
    // Not JSON (a cycle): never the case for stored input, but a notifier must not throw.
    return revealText(String(value));
  }
  const lines = json.split('\n');
  lines.forEach((line, index) => {
    if (index > 0) parts.push({ kind: 'break' });
    const content = line.trimStart();
    const width = line.length - content.length;
    if (width > 0) parts.push({ kind: 'indent', width });
    parts.push(...revealText(content));
  });
  return parts;
}

/**
 * Revealed parts as one string: markers inline, `break` as `\n`, `indent` as spaces.
 * @param {readonly RevealedPart[]} parts
 * @returns {string}
 */
export function joinRevealedParts(parts) {
  return parts
    .map((part) =>
      part.kind === 'break' ? '\n' : part.kind === 'indent' ? ' '.repeat(part.width) : part.text,
    )
    .join('');
}

/**
 * `text` revealed as one string (see {@link revealText}).
 * @param {string} text
 * @returns {string}
 */
export function revealTextAsString(text) {
  return joinRevealedParts(revealText(text));
}

/**
 * A detail value revealed as one string (see {@link revealDetailValue}).
 * @param {unknown} value
 * @returns {string}
 */
export function revealDetailValueAsString(value) {
  return joinRevealedParts(revealDetailValue(value));
}
