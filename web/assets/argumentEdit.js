// @ts-check
/**
 * Edit before approve, on the approval page: the gated call's arguments as JSON the human may
 * change, the changes shown as a table (argument, asked, approved; agent and human text with
 * hidden characters revealed), and the edited arguments to send with Approve. The server checks
 * them against the tool's input schema and the policy; the agent is told what changed.
 */

import {
  createElement,
  replaceChildren,
  requireElement,
  revealDetailName,
  revealDetailValueNodes,
  revealHiddenCharacters,
} from './dom.js';

/** @typedef {import('./api.js').ArgumentChange} ArgumentChange */

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
function isPlainObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Whether two JSON values are the same (object key order does not matter).
 * @param {unknown} a
 * @param {unknown} b
 * @returns {boolean}
 */
function sameJson(a, b) {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of keys)
      if (!(key in a) || !(key in b) || !sameJson(a[key], b[key])) return false;
    return true;
  }
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((v, i) => sameJson(v, b[i]));
  return Object.is(a, b) || (a === 0 && b === 0);
}

/**
 * The changes from `before` to `after`, as the server computes them (core/approvalEdit.ts):
 * nested objects key by key with dotted paths, sorted; other values compared whole.
 * @param {Record<string, unknown>} before
 * @param {Record<string, unknown>} after
 * @param {string} [prefix]
 * @returns {ArgumentChange[]}
 */
export function diffArguments(before, after, prefix = '') {
  /** @type {ArgumentChange[]} */
  const changes = [];
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  for (const key of keys) {
    const path = prefix ? `${prefix}.${key}` : key;
    const from = before[key];
    const to = after[key];
    if (isPlainObject(from) && isPlainObject(to)) changes.push(...diffArguments(from, to, path));
    else if (!(key in before) || !(key in after) || !sameJson(from, to))
      changes.push({ path, ...(key in before ? { from } : {}), ...(key in after ? { to } : {}) });
  }
  return changes;
}

/**
 * A changed value as nodes: absent as "(absent)", a string in quotes (so `"500"` and `500`
 * differ) with hidden characters revealed, anything else as JSON.
 * @param {ArgumentChange} change
 * @param {'from' | 'to'} side
 * @returns {Node[]}
 */
function changeValueNodes(change, side) {
  if (!(side in change)) return [createElement('em', {}, ['(absent)'])];
  const value = change[side];
  if (typeof value === 'string')
    return [
      document.createTextNode('"'),
      ...revealHiddenCharacters(value),
      document.createTextNode('"'),
    ];
  return revealDetailValueNodes(value);
}

/**
 * Fills a table body with one row per change: argument, asked, approved.
 * @param {HTMLElement} body
 * @param {readonly ArgumentChange[]} changes
 */
export function renderArgumentChanges(body, changes) {
  replaceChildren(
    body,
    changes.map((change) =>
      createElement('tr', {}, [
        createElement('th', { scope: 'row', dir: 'auto' }, revealDetailName(change.path)),
        createElement(
          'td',
          { dir: 'auto', class: 'change-from' },
          changeValueNodes(change, 'from'),
        ),
        createElement('td', { dir: 'auto', class: 'change-to' }, changeValueNodes(change, 'to')),
      ]),
    ),
  );
}

/**
 * Sets up the edit controls once for an editable request. Returns `read()`: null when the human
 * edits nothing (or only reformats), the edited arguments otherwise; throws with what to fix
 * when the text is not a JSON object. Also `onChange(listener)`, called with whether there are
 * changes, so Approve can say it approves the edited call.
 * @param {Record<string, unknown>} asked  the arguments as the agent sent them
 */
export function setUpArgumentEdit(asked) {
  const fieldset = requireElement('edit-arguments', HTMLElement);
  const toggle = requireElement('edit-toggle', HTMLInputElement);
  const field = requireElement('edit-field', HTMLElement);
  const textarea = requireElement('edit-json', HTMLTextAreaElement);
  const error = requireElement('edit-error', HTMLElement);
  const changesBlock = requireElement('edit-changes-block', HTMLElement);
  const changesBody = requireElement('edit-changes', HTMLElement);
  /** @type {(edited: boolean) => void} */
  let listener = () => undefined;
  fieldset.hidden = false;
  textarea.value = JSON.stringify(asked, null, 2);

  /** @param {string} message */
  const setError = (message) => {
    error.textContent = message;
    error.hidden = message === '';
    if (message) textarea.setAttribute('aria-invalid', 'true');
    else textarea.removeAttribute('aria-invalid');
  };

  /** @returns {{ value: Record<string, unknown> | null, changes: ArgumentChange[] }} */
  const parse = () => {
    if (!toggle.checked) return { value: null, changes: [] };
    /** @type {unknown} */
    let value;
    try {
      value = JSON.parse(textarea.value);
    } catch (err) {
      throw new Error(
        `The arguments are not valid JSON (${err instanceof Error ? err.message : String(err)}); correct them or untick “Change the arguments”.`,
      );
    }
    if (!isPlainObject(value))
      throw new Error('The arguments must be one JSON object, like {"name": "value"}.');
    const changes = diffArguments(asked, value);
    return { value: changes.length > 0 ? value : null, changes };
  };

  const update = () => {
    field.hidden = !toggle.checked;
    let changes = /** @type {ArgumentChange[]} */ ([]);
    try {
      changes = parse().changes;
      setError('');
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
    renderArgumentChanges(changesBody, changes);
    changesBlock.hidden = changes.length === 0;
    listener(changes.length > 0);
  };
  toggle.addEventListener('change', update);
  textarea.addEventListener('input', update);

  return {
    /** @returns {Record<string, unknown> | null} */
    read() {
      try {
        const { value } = parse();
        setError('');
        return value;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        setError(message);
        textarea.focus();
        throw new Error(message);
      }
    },
    /** @param {(edited: boolean) => void} fn */
    onChange(fn) {
      listener = fn;
    },
  };
}
