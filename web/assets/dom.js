// @ts-check
/**
 * Building DOM without markup strings. Text always goes in through `textContent` (never
 * innerHTML): action descriptions and details come from agents and are hostile.
 */

import { revealDetailValue, revealText } from './revealText.js';

/**
 * @typedef {string | number | boolean | null | undefined} AttrValue
 * @typedef {Node | string | null | undefined | false} Child
 */

/**
 * Creates an element. `attrs` keys are attribute names (`class`, `id`, `aria-*`, `data-*`…);
 * a value of false, null or undefined leaves the attribute out, true sets it empty. String
 * children become text nodes.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, AttrValue>} [attrs]
 * @param {Child[]} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function createElement(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  appendChildren(node, children);
  return node;
}

/**
 * Appends children to `parent`; strings as text nodes, falsy entries skipped.
 * @param {Node} parent
 * @param {Child[]} children
 */
export function appendChildren(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/**
 * Replaces every child of `parent` with `children`.
 * @param {Element} parent
 * @param {Child[]} children
 */
export function replaceChildren(parent, children) {
  parent.replaceChildren();
  appendChildren(parent, children);
}

/**
 * The element with this id, or an Error naming the missing id (a page and its script disagree).
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new (...args: any[]) => T} type
 * @returns {T}
 */
export function requireElement(id, type) {
  const node = document.getElementById(id);
  if (!(node instanceof type)) throw new Error(`The page has no <${type.name}> with id "${id}".`);
  return node;
}

/**
 * Revealed parts (from ./revealText.js) as nodes: markers as `<mark class="hidden-char">`, line
 * breaks as `<br>`, indentation as spaces.
 * @param {import('./revealText.js').RevealedPart[]} parts
 * @returns {Node[]}
 */
function revealedPartsToNodes(parts) {
  return parts.map((part) => {
    if (part.kind === 'text') return document.createTextNode(part.text);
    if (part.kind === 'indent') return document.createTextNode(' '.repeat(part.width));
    if (part.kind === 'break') return document.createElement('br');
    return createElement('mark', { class: 'hidden-char', title: part.title }, [part.text]);
  });
}

/**
 * Agent text as nodes with every invisible, direction-changing or layout-hiding character
 * (bidi controls, zero-width characters, control characters, tabs, line breaks, long runs of
 * spaces) shown as a visible marker such as `⟨U+202E RIGHT-TO-LEFT OVERRIDE⟩` or
 * `⟨5000 spaces⟩`, so nothing in an action can hide or reorder what a human reads
 * ("Trojan Source", CVE-2021-42574). The classification is in ./revealText.js.
 * @param {string} text
 * @returns {Node[]}
 */
export function revealHiddenCharacters(text) {
  return revealedPartsToNodes(revealText(text));
}

/** Where a detail name may wrap: after these characters, never inside a word. */
const nameBreakAfter = /([_.\-/:])/;

/**
 * A detail name (an `action_details` key or tool argument name) as nodes: revealed as
 * {@link revealHiddenCharacters}, with a `<wbr>` after every `_`, `.`, `-`, `/` and `:` so that
 * `recipient_email` wraps as `recipient_` / `email`, never as `recipi` / `ent`.
 * @param {string} name
 * @returns {Node[]}
 */
export function revealDetailName(name) {
  return revealHiddenCharacters(name).flatMap((node) => {
    if (node.nodeType !== Node.TEXT_NODE) return [node];
    /** @type {Node[]} */
    const nodes = [];
    for (const piece of (node.textContent ?? '').split(nameBreakAfter)) {
      if (piece === '') continue;
      nodes.push(document.createTextNode(piece));
      if (nameBreakAfter.test(piece)) nodes.push(document.createElement('wbr'));
    }
    return nodes;
  });
}

/**
 * `text` revealed as {@link revealHiddenCharacters} but cut to about `maxChars` characters, for
 * one-line summaries: a marker is kept whole or left out (never cut, so `⟨5000 spaces⟩` never
 * reads as `⟨50`), line breaks stay as their `⟨newline⟩` marker only, and a cut ends in `…`.
 * @param {string} text
 * @param {number} maxChars  visible characters of agent text; a marker counts as one
 * @returns {Node[]}
 */
export function revealShortText(text, maxChars) {
  /** @type {import('./revealText.js').RevealedPart[]} */
  const kept = [];
  let left = maxChars;
  let cut = false;
  for (const part of revealText(text)) {
    if (part.kind === 'break') continue;
    if (left <= 0) {
      cut = true;
      break;
    }
    if (part.kind === 'mark') {
      kept.push(part);
      left -= 1;
      continue;
    }
    const chars = Array.from(part.kind === 'indent' ? ' '.repeat(part.width) : part.text);
    if (chars.length > left) cut = true;
    kept.push({ kind: 'text', text: chars.slice(0, left).join('') });
    left -= chars.length;
    if (cut) break;
  }
  const nodes = revealedPartsToNodes(kept);
  if (cut) nodes.push(document.createTextNode('…'));
  return nodes;
}

/**
 * One detail value as nodes, in full: strings revealed as {@link revealHiddenCharacters};
 * numbers and booleans as sent (`12450`, `true`); objects and arrays as indented JSON.
 * @param {unknown} value
 * @returns {Node[]}
 */
export function revealDetailValueNodes(value) {
  return revealedPartsToNodes(revealDetailValue(value));
}

/**
 * Any detail value as display text: strings as they are, everything else as JSON.
 * @param {unknown} value
 * @returns {string}
 */
export function formatValue(value) {
  if (typeof value === 'string') return value;
  if (value === undefined) return '';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
