// @ts-check
/**
 * The inbox (`/`): pending requests first, newest first, kept live through `/v1/events`;
 * decided, timed-out and expired requests below as history. The document title carries the
 * pending count.
 */

import { ApiError, listApprovals } from './api.js';
import {
  createElement,
  formatValue,
  replaceChildren,
  requireElement,
  revealHiddenCharacters,
  revealShortText,
} from './dom.js';
import { subscribeToApprovals } from './events.js';
import { describeOutcome, isDecidable } from './outcome.js';
import { announce, showConnectionState, startSignedInPage } from './page.js';
import { createTimeElement, formatAge, formatDuration, millisecondsUntil } from './time.js';

/** @typedef {import('./api.js').ApprovalView} ApprovalView */

const HISTORY_LIMIT = 50;
/** A gated tool call's card names this many of its arguments; the approval page shows all. */
const SUMMARY_ARGUMENTS = 3;
/** Argument values in a card are cut to about this many characters. */
const SUMMARY_VALUE_CHARS = 40;
/** Argument names in a card are cut to about this many characters. */
const SUMMARY_NAME_CHARS = 24;
const BASE_TITLE = 'Inbox · loopgate';

/** Every approval the page knows, by pause_id. */
/** @type {Map<string, ApprovalView>} */
const views = new Map();
/** The order history items arrived in: the server's newest-first list, then live changes on top. */
/** @type {string[]} */
let historyOrder = [];
/** @type {Map<string, HTMLLIElement>} */
const cards = new Map();
let loaded = false;

const pendingList = requireElement('pending-list', HTMLUListElement);
const historyList = requireElement('history-list', HTMLUListElement);

/**
 * Keeps the later of two views of one request: a status only ever moves on from `pending`.
 * @param {ApprovalView | undefined} known
 * @param {ApprovalView} incoming
 * @returns {ApprovalView}
 */
function pickLaterView(known, incoming) {
  if (known && known.status !== 'pending' && incoming.status === 'pending') return known;
  return incoming;
}

/**
 * @param {ApprovalView} view
 * @returns {boolean}
 */
function isPending(view) {
  return view.status === 'pending';
}

/**
 * @param {ApprovalView} view
 * @returns {string}
 */
function approvalPath(view) {
  return `/approvals/${encodeURIComponent(view.pause_id)}`;
}

/**
 * The text under a card's title: who asked, when, and time left or the outcome.
 * @param {ApprovalView} view
 * @param {number} now
 * @returns {Node[]}
 */
function createCardMeta(view, now) {
  const agent = createElement('span', { class: 'meta-item' }, [
    'from ',
    createElement('strong', { class: 'agent', dir: 'auto' }, revealHiddenCharacters(view.agent_id)),
  ]);
  const age = createElement('span', { class: 'meta-item' }, [
    'requested ',
    createElement('time', { datetime: view.created_at, title: view.created_at, 'data-age': '' }, [
      formatAge(view.created_at, now),
    ]),
  ]);
  if (isPending(view)) {
    const left = millisecondsUntil(view.expires_at, now);
    const timeLeft = createElement(
      'span',
      {
        class: left > 0 ? 'meta-item time-left' : 'meta-item time-left is-over',
        'data-time-left': '',
      },
      [left > 0 ? `${formatDuration(left, { seconds: false })} left` : 'time is up'],
    );
    return [agent, age, timeLeft];
  }
  const outcome = describeOutcome(view, now);
  /** @type {Node[]} */
  const result = [createElement('span', { class: `badge badge-${outcome.kind}` }, [outcome.label])];
  if (outcome.kind === 'approved' || outcome.kind === 'rejected') {
    result.push(
      createElement('span', { class: 'meta-item' }, [
        'by ',
        createElement('strong', { class: 'responder' }, [view.response?.responder ?? '']),
      ]),
    );
  }
  if (outcome.decidedAt)
    result.push(
      createElement('span', { class: 'meta-item' }, [createTimeElement(outcome.decidedAt)]),
    );
  else if (outcome.kind === 'expired')
    result.push(createElement('span', { class: 'meta-item' }, ['cancelled by the agent']));
  result.push(agent);
  return result;
}

/**
 * The line naming a gated tool call (a request with `tool`, from `loopgate proxy`) and its first
 * arguments, e.g. `get_weather · city: Paris, units: metric, +2 more`, values cut short and
 * hidden characters shown as markers. Null for requests without a tool.
 * @param {ApprovalView} view
 * @returns {HTMLParagraphElement | null}
 */
function createToolSummary(view) {
  if (!view.tool) return null;
  const details =
    view.action_details && typeof view.action_details === 'object' ? view.action_details : {};
  const entries = Object.entries(details);
  /** @type {(Node | string)[]} */
  const children = [
    createElement('code', { class: 'mono card-tool-name' }, revealHiddenCharacters(view.tool)),
  ];
  entries.slice(0, SUMMARY_ARGUMENTS).forEach(([name, value], index) => {
    children.push(index === 0 ? ' · ' : ', ');
    children.push(
      createElement('span', { class: 'card-argument' }, [
        ...revealShortText(name, SUMMARY_NAME_CHARS),
        ': ',
        ...revealShortText(formatValue(value), SUMMARY_VALUE_CHARS),
      ]),
    );
  });
  if (entries.length > SUMMARY_ARGUMENTS)
    children.push(`, +${entries.length - SUMMARY_ARGUMENTS} more`);
  return createElement('p', { class: 'card-tool', dir: 'auto' }, children);
}

/**
 * Builds or refreshes the card of one request.
 * @param {ApprovalView} view
 * @param {number} now
 * @returns {HTMLLIElement}
 */
function renderCard(view, now) {
  let card = cards.get(view.pause_id);
  if (!card) {
    card = createElement('li', { class: 'card', 'data-pause-id': view.pause_id });
    cards.set(view.pause_id, card);
  }
  card.dataset['status'] = view.status;
  const link = createElement(
    'a',
    { class: 'card-link', href: approvalPath(view), dir: 'auto' },
    revealHiddenCharacters(view.action_description),
  );
  replaceChildren(card, [
    createElement('h3', { class: 'card-title' }, [link]),
    createToolSummary(view),
    createElement('p', { class: 'card-meta' }, createCardMeta(view, now)),
  ]);
  return card;
}

/**
 * Puts `items` into `list` in order, moving only the nodes that are out of place so that a
 * focused link keeps its focus.
 * @param {HTMLUListElement} list
 * @param {HTMLLIElement[]} items
 */
function reconcileList(list, items) {
  const wanted = new Set(items);
  for (const child of [...list.children]) {
    if (!wanted.has(/** @type {HTMLLIElement} */ (child))) child.remove();
  }
  items.forEach((item, index) => {
    const current = list.children[index];
    if (current !== item) list.insertBefore(item, current ?? null);
  });
}

/** Renders both lists, the counts and the title from `views`. */
function render() {
  if (!loaded) return;
  const now = Date.now();
  const pending = [...views.values()]
    .filter(isPending)
    .sort((a, b) => b.created_at.localeCompare(a.created_at));
  const history = historyOrder
    .map((id) => views.get(id))
    .filter(/** @returns {view is ApprovalView} */ (view) => view !== undefined && !isPending(view))
    .slice(0, HISTORY_LIMIT);

  const pendingCards = pending.map((view) => renderCard(view, now));
  const historyCards = history.map((view) => renderCard(view, now));
  reconcileList(pendingList, pendingCards);
  reconcileList(historyList, historyCards);
  const kept = new Set([...pendingCards, ...historyCards]);
  for (const [id, card] of cards) if (!kept.has(card)) cards.delete(id);

  requireElement('pending-count', HTMLElement).textContent = String(pending.length);
  requireElement('pending-empty', HTMLElement).hidden = pending.length > 0;
  requireElement('history-empty', HTMLElement).hidden = history.length > 0;
  document.title = pending.length > 0 ? `(${pending.length}) ${BASE_TITLE}` : BASE_TITLE;
}

/** Refreshes the relative times and time left without rebuilding the cards. */
function tick() {
  const now = Date.now();
  for (const [id, card] of cards) {
    const view = views.get(id);
    if (!view) continue;
    const age = card.querySelector('[data-age]');
    if (age) age.textContent = formatAge(view.created_at, now);
    const timeLeft = card.querySelector('[data-time-left]');
    if (timeLeft && isPending(view)) {
      const left = millisecondsUntil(view.expires_at, now);
      timeLeft.textContent =
        left > 0 ? `${formatDuration(left, { seconds: false })} left` : 'time is up';
      timeLeft.classList.toggle('is-over', !isDecidable(view, now));
    }
  }
}

/**
 * Fetches both lists and replaces what the page knows, keeping any later state that arrived
 * through the event stream meanwhile.
 */
async function loadLists() {
  const [pending, decided] = await Promise.all([
    listApprovals('pending'),
    listApprovals('decided', HISTORY_LIMIT),
  ]);
  const fresh = new Map();
  for (const view of [...pending, ...decided])
    fresh.set(view.pause_id, pickLaterView(views.get(view.pause_id), view));
  // Views the lists no longer hold but the stream told us about stay (the lists are bounded).
  for (const [id, view] of views) if (!fresh.has(id)) fresh.set(id, view);
  views.clear();
  for (const [id, view] of fresh) views.set(id, view);
  const liveFirst = historyOrder.filter((id) => !decided.some((view) => view.pause_id === id));
  historyOrder = [...liveFirst, ...decided.map((view) => view.pause_id)];
  historyOrder = historyOrder.filter((id, index) => historyOrder.indexOf(id) === index);
  loaded = true;
  render();
}

/**
 * Applies one live change.
 * @param {ApprovalView} incoming
 */
function applyApprovalEvent(incoming) {
  const known = views.get(incoming.pause_id);
  const view = pickLaterView(known, incoming);
  views.set(view.pause_id, view);
  if (!isPending(view)) {
    historyOrder = [view.pause_id, ...historyOrder.filter((id) => id !== view.pause_id)];
  }
  render();
  if (!loaded) return;
  // Announcements carry counts only: repeating agent text here would read it twice and make
  // the same words appear twice on the page.
  const waiting = [...views.values()].filter(isPending).length;
  if (!known && isPending(view)) {
    announce(`New approval request. ${waiting} waiting.`);
    renderCard(view, Date.now()).classList.add('is-new');
  } else if (known && isPending(known) && !isPending(view)) {
    announce(`A request moved to the history. ${waiting} waiting.`);
  }
}

/**
 * Shows the lists, or the reason they could not be loaded with a way to try again.
 * @param {unknown} err
 */
function showLoadError(err) {
  const state = requireElement('load-state', HTMLElement);
  const message = err instanceof ApiError ? err.message : 'The inbox could not be loaded.';
  const retry = createElement('button', { type: 'button', class: 'button' }, ['Try again']);
  retry.addEventListener('click', () => location.reload());
  state.classList.add('notice-error');
  replaceChildren(state, [createElement('span', {}, [message]), ' ', retry]);
}

async function start() {
  try {
    await loadLists();
  } catch (err) {
    showLoadError(err);
    return;
  }
  const state = requireElement('load-state', HTMLElement);
  state.hidden = true;
  state.classList.remove('notice-error');
  requireElement('pending-section', HTMLElement).hidden = false;
  requireElement('history-section', HTMLElement).hidden = false;
}

async function main() {
  try {
    await startSignedInPage();
  } catch (err) {
    showLoadError(err);
    return;
  }
  subscribeToApprovals({
    onApproval: applyApprovalEvent,
    onConnectionChange(connected, reconnected) {
      showConnectionState(connected, reconnected);
      if (reconnected) loadLists().catch(() => undefined);
    },
  });
  await start();
  setInterval(tick, 15_000);
}

void main();
