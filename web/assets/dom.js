// @ts-check
/**
 * Building DOM without markup strings. Text always goes in through `textContent` (never
 * innerHTML): action descriptions and details come from agents and are hostile.
 */

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

// Bidirectional overrides, isolates and zero-width characters can make text read differently
// from what it is ("Trojan Source", CVE-2021-42574). An approval must show exactly what will
// be approved, so they are shown as visible code points instead of being obeyed.
const HIDDEN_CHARACTERS =
  /[\u00AD\u061C\u115F\u1160\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\u3164\uFEFF\uFFA0]/g;

/**
 * Agent text as nodes with every invisible or direction-changing character made visible as a
 * marked `U+XXXX` token, so nothing in an action can hide or reorder what a human reads.
 * @param {string} text
 * @returns {Node[]}
 */
export function revealHiddenCharacters(text) {
  /** @type {Node[]} */
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(HIDDEN_CHARACTERS)) {
    const index = match.index ?? 0;
    if (index > last) nodes.push(document.createTextNode(text.slice(last, index)));
    const codePoint = `U+${match[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
    nodes.push(
      createElement('mark', { class: 'hidden-char', title: `Invisible character ${codePoint}` }, [
        codePoint,
      ]),
    );
    last = index + match[0].length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
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
