// @ts-check
/**
 * The approval page (`/approvals/:id`): what the agent asks (and, for the gateway, which tool
 * call), the details as a table, the fields it wants filled in, a Comment, and Approve /
 * Reject. The request's gate adds a step-up to Approve: an **Authenticator code** field
 * (`totp`) or a passkey prompt (`webauthn`); a `quorum` shows who has approved so far and
 * keeps the request pending until enough approvers have. After a decision (here, or by anyone
 * else, seen live through `/v1/events`) it shows the outcome and the signed receipt. A request
 * that is decided, timed out or expired shows no buttons; the countdown disables them at zero.
 */

import { ApiError, fetchApproval, fetchPasskeyOptions, postDecision } from './api.js';
import {
  createElement,
  formatValue,
  replaceChildren,
  requireElement,
  revealDetailName,
  revealDetailValueNodes,
  revealHiddenCharacters,
} from './dom.js';
import { revealTextAsString } from './revealText.js';
import { subscribeToApprovals } from './events.js';
import { fetchGrantOffer, setUpGrantChoice } from './grantChoice.js';
import { renderArgumentChanges, setUpArgumentEdit } from './argumentEdit.js';
import { describeOutcome, isDecidable } from './outcome.js';
import { announce, showConnectionState, startSignedInPage } from './page.js';
import { PasskeyError, usePasskey } from './passkey.js';
import { createTimeElement, formatDuration, millisecondsUntil } from './time.js';

/**
 * @typedef {import('./api.js').ApprovalView} ApprovalView
 * @typedef {import('./api.js').FieldSpec} FieldSpec
 * @typedef {'none' | 'totp' | 'webauthn'} StepUp
 * @typedef {{ spec: FieldSpec, input: HTMLInputElement, error: HTMLElement }} FieldControl
 */

const pauseId = readPauseId();
/** @type {ApprovalView | null} */
let currentView = null;
/** @type {FieldControl[]} */
let fieldControls = [];
let formBuilt = false;
let decisionInFlight = false;
/** Reads the reach chosen (null: this call once); throws with what to fix. */
/** @type {() => import('./grantChoice.js').GrantBody | null} */
let readGrantChoice = () => null;
/** Reads the edited arguments (null: as asked); throws with what to fix. */
/** @type {() => Record<string, unknown> | null} */
let readEditedArguments = () => null;
/** Whether the buttons were usable at the last render; the countdown re-renders when it flips. */
let wasDecidable = false;

const form = requireElement('decision-form', HTMLFormElement);
const approveButton = requireElement('approve', HTMLButtonElement);
const rejectButton = requireElement('reject', HTMLButtonElement);
const commentInput = requireElement('comment', HTMLTextAreaElement);
const decisionError = requireElement('decision-error', HTMLElement);
const sendingStatus = requireElement('sending', HTMLElement);
const totpField = requireElement('totp-field', HTMLElement);
const totpInput = requireElement('totp-code', HTMLInputElement);
const totpError = requireElement('totp-error', HTMLElement);
const voteRecorded = requireElement('vote-recorded', HTMLElement);
const notApprover = requireElement('not-approver', HTMLElement);
/** The signed-in operator's name, once the session is known. */
let operatorName = '';

/** TOTP refusals after which the code field is cleared for a fresh code. */
const totpRefusals = new Set(['E_TOTP_CODE_MALFORMED', 'E_TOTP_CODE_INVALID', 'E_TOTP_REPLAYED']);
/** Refusals that change the request itself (it was voided): show its new state. */
const voidingRefusals = new Set(['E_TOTP_REQUEST_VOIDED', 'E_TOTP_LOCKED']);

/**
 * What each approver must add to Approve, from the request's gate.
 * @param {ApprovalView} view
 * @returns {StepUp}
 */
function requiredStepUp(view) {
  const gate = view.gate;
  if (!gate) return 'none';
  if (gate.type === 'totp') return 'totp';
  if (gate.type === 'webauthn') return 'webauthn';
  if (gate.type === 'quorum') {
    const stepUp = gate.quorum?.step_up;
    return stepUp === 'totp' || stepUp === 'webauthn' ? stepUp : 'none';
  }
  return 'none';
}

/**
 * Quorum progress: how many approvals of how many, who approved, and where the signed-in
 * operator stands. Null for requests without a quorum.
 * @param {ApprovalView} view
 */
function readQuorum(view) {
  const quorum = view.gate?.type === 'quorum' ? view.gate.quorum : undefined;
  if (!quorum) return null;
  const votes = Array.isArray(view.votes) ? view.votes : [];
  const approvedBy = votes.filter((v) => v.decision === 'approved').map((v) => v.operator);
  const approvers = Array.isArray(quorum.approvers) ? quorum.approvers : [];
  return {
    n: quorum.n,
    approvers,
    approvedBy,
    remaining: Math.max(0, quorum.n - approvedBy.length),
    myVote: votes.find((v) => v.operator === operatorName) ?? null,
    mayVote: approvers.includes(operatorName),
  };
}

/** The pause_id from `/approvals/:id`, or null when the path has none. */
function readPauseId() {
  const match = /^\/approvals\/([^/]+)\/?$/.exec(location.pathname);
  if (!match?.[1]) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}

/**
 * Keeps the later of two views of one request: a status only ever moves on from `pending`.
 * @param {ApprovalView | null} known
 * @param {ApprovalView} incoming
 * @returns {ApprovalView}
 */
function pickLaterView(known, incoming) {
  if (known && known.status !== 'pending' && incoming.status === 'pending') return known;
  return incoming;
}

/**
 * @param {ApprovalView} view
 * @returns {FieldSpec[]}
 */
function readFieldSpecs(view) {
  return Array.isArray(view.fields) ? view.fields : [];
}

/**
 * One labelled input per requested field: string → text, number → number, boolean → checkbox.
 * Ids are positional because field names come from the agent.
 * @param {FieldSpec} spec
 * @param {number} index
 * @returns {{ row: HTMLElement, control: FieldControl }}
 */
function createFieldControl(spec, index) {
  const id = `field-${index}`;
  const errorId = `${id}-error`;
  const isBoolean = spec.type === 'boolean';
  // A checkbox always answers (checked is yes, unchecked is no), so only text and number
  // fields can be left empty and need the required mark.
  const required = spec.required === true && !isBoolean;
  const input = createElement('input', {
    id,
    name: spec.name,
    type: isBoolean ? 'checkbox' : spec.type === 'number' ? 'number' : 'text',
    step: spec.type === 'number' ? 'any' : null,
    inputmode: spec.type === 'number' ? 'decimal' : null,
    autocomplete: 'off',
    required,
    'aria-describedby': errorId,
  });
  const label = createElement('label', { for: id, dir: 'auto' }, [
    ...revealHiddenCharacters(spec.label || spec.name),
    required
      ? createElement('span', { class: 'required-mark', 'aria-hidden': 'true' }, ['required'])
      : null,
  ]);
  const error = createElement('p', { class: 'field-error', id: errorId, hidden: true });
  const row = isBoolean
    ? createElement('div', { class: 'field field-checkbox' }, [input, label, error])
    : createElement('div', { class: 'field' }, [label, input, error]);
  return { row, control: { spec, input, error } };
}

/**
 * Builds the field inputs once, so a live re-render never wipes what the human typed.
 * @param {ApprovalView} view
 */
function buildForm(view) {
  if (formBuilt) return;
  formBuilt = true;
  const specs = readFieldSpecs(view);
  const built = specs.map(createFieldControl);
  fieldControls = built.map((entry) => entry.control);
  replaceChildren(
    requireElement('field-list', HTMLElement),
    built.map((entry) => entry.row),
  );
  requireElement('fields', HTMLElement).hidden = specs.length === 0;
}

/**
 * @param {FieldControl} control
 * @param {string} message  empty clears the error
 */
function setFieldError(control, message) {
  control.error.textContent = message;
  control.error.hidden = message === '';
  if (message) control.input.setAttribute('aria-invalid', 'true');
  else control.input.removeAttribute('aria-invalid');
}

/**
 * Reads the field values for a decision. For Approve every required field must be filled and
 * every number must be a number; the first bad field gets focus and the result is null. For
 * Reject nothing is required and only well-formed values are sent.
 * @param {'approved' | 'rejected'} decision
 * @returns {Record<string, string | number | boolean> | null}
 */
function collectFields(decision) {
  /** @type {Record<string, string | number | boolean>} */
  const values = {};
  /** @type {FieldControl | null} */
  let firstInvalid = null;
  for (const control of fieldControls) {
    const { spec, input } = control;
    let message = '';
    if (spec.type === 'boolean') {
      values[spec.name] = input.checked;
    } else if (spec.type === 'number') {
      const raw = input.value.trim();
      const number = Number(raw);
      if (input.validity.badInput || (raw !== '' && !Number.isFinite(number)))
        message = 'Enter a number.';
      else if (raw === '' && spec.required) message = 'Enter a number: this field is required.';
      else if (raw !== '') values[spec.name] = number;
    } else {
      const text = input.value.trim();
      if (text === '' && spec.required) message = 'Fill in this field: it is required.';
      else if (text !== '') values[spec.name] = text;
    }
    if (decision === 'rejected') message = '';
    setFieldError(control, message);
    if (message && !firstInvalid) firstInvalid = control;
  }
  if (firstInvalid) {
    firstInvalid.input.focus();
    return null;
  }
  return values;
}

/**
 * The rows of the details table; agent text is shown with hidden characters made visible.
 * @param {ApprovalView} view
 */
function renderDetails(view) {
  const details =
    view.action_details && typeof view.action_details === 'object' ? view.action_details : {};
  const entries = Object.entries(details);
  const rows = entries.map(([name, value]) =>
    createElement('tr', {}, [
      createElement('th', { scope: 'row', dir: 'auto' }, revealDetailName(name)),
      createElement('td', { dir: 'auto' }, revealDetailValueNodes(value)),
    ]),
  );
  replaceChildren(requireElement('details-body', HTMLElement), rows);
  requireElement('details', HTMLElement).hidden = entries.length === 0;
  requireElement('details-empty', HTMLElement).hidden = entries.length > 0;
}

/**
 * The outcome section: the sentence, what the human answered, and the receipt.
 * @param {ApprovalView} view
 * @param {number} now
 */
function renderOutcome(view, now) {
  const outcome = describeOutcome(view, now);
  const section = requireElement('outcome', HTMLElement);
  section.dataset['outcome'] = outcome.kind;
  requireElement('outcome-heading', HTMLElement).textContent = outcome.label;
  requireElement('outcome-sentence', HTMLElement).textContent = outcome.sentence;

  const response = view.status === 'responded' ? view.response : null;
  /** @type {HTMLElement[]} */
  const facts = [];
  if (response) {
    const labels = new Map(
      readFieldSpecs(view).map((spec) => [spec.name, spec.label || spec.name]),
    );
    /**
     * @param {string} term
     * @param {Node[]} description
     */
    const fact = (term, description) =>
      createElement('div', { class: 'fact' }, [
        createElement('dt', {}, [term]),
        createElement('dd', { dir: 'auto' }, description),
      ]);
    // The outcome sentence already says who decided and when; the facts add only the rest.
    if (Array.isArray(response.approvers) && response.approvers.length > 0) {
      facts.push(fact('Approvers', [document.createTextNode(response.approvers.join(', '))]));
    }
    facts.push(
      fact(
        'Comment',
        response.comment
          ? revealHiddenCharacters(response.comment)
          : [document.createTextNode('—')],
      ),
    );
    for (const [name, value] of Object.entries(response.fields ?? {})) {
      const shown = typeof value === 'boolean' ? (value ? 'Yes' : 'No') : formatValue(value);
      facts.push(fact(labels.get(name) ?? name, revealHiddenCharacters(shown)));
    }
  }
  replaceChildren(requireElement('outcome-facts', HTMLElement), facts);

  const receiptBlock = requireElement('receipt-block', HTMLElement);
  const receipt = response && typeof view.receipt === 'string' ? view.receipt : '';
  receiptBlock.hidden = receipt === '';
  const receiptText = requireElement('receipt', HTMLTextAreaElement);
  if (receiptText.value !== receipt) receiptText.value = receipt;
  requireElement('action-hash', HTMLElement).textContent = view.action_hash ?? '';
  const edit = response?.decision === 'approved' ? view.edit : undefined;
  requireElement('outcome-edit', HTMLElement).hidden = !edit;
  if (edit) {
    renderArgumentChanges(requireElement('outcome-edit-changes', HTMLElement), edit.changes);
    requireElement('original-action-hash', HTMLElement).textContent = edit.original_action_hash;
  }
}

/** Updates the countdown; at zero it re-renders, which disables and hides the buttons. */
function renderTimeLeft() {
  const view = currentView;
  if (!view) return;
  const now = Date.now();
  const left = millisecondsUntil(view.expires_at, now);
  requireElement('time-left-row', HTMLElement).hidden = view.status !== 'pending';
  requireElement('time-left', HTMLElement).textContent =
    left > 0 ? formatDuration(left) : 'None — time is up';
  const decidable = isDecidable(view, now);
  if (wasDecidable === decidable) return;
  if (wasDecidable && view.status === 'pending')
    announce('Time is up: Approve and Reject are disabled.');
  render();
}

/**
 * The quorum section: "1 of 2 approvals: alice" and who may approve. Returns the progress.
 * @param {ApprovalView} view
 */
function renderQuorum(view) {
  const quorum = readQuorum(view);
  const section = requireElement('quorum', HTMLElement);
  section.hidden = quorum === null;
  if (!quorum) return null;
  const who = quorum.approvedBy.length > 0 ? `: ${quorum.approvedBy.join(', ')}` : '';
  requireElement('quorum-progress', HTMLElement).textContent =
    `${quorum.approvedBy.length} of ${quorum.n} approvals${who}`;
  const stepUp = requiredStepUp(view);
  const withStepUp =
    stepUp === 'totp'
      ? ', each with an authenticator code'
      : stepUp === 'webauthn'
        ? ', each with a passkey'
        : '';
  requireElement('quorum-approvers', HTMLElement).textContent =
    quorum.approvers.length > 0
      ? `Needs ${quorum.n} of: ${quorum.approvers.join(', ')}${withStepUp}. One rejection rejects.`
      : 'No operator is named as an approver, so nobody can decide this request.';
  return quorum;
}

/**
 * @param {NonNullable<ReturnType<typeof readQuorum>>} quorum
 * @returns {string}
 */
function describeRecordedVote(quorum) {
  if (quorum.myVote?.decision === 'rejected') return 'Your rejection is recorded.';
  return `Your approval is recorded; waiting for ${quorum.remaining} more.`;
}

/**
 * Shows the Authenticator code field or the passkey hint, as the gate asks.
 * @param {ApprovalView} view
 */
function renderStepUp(view) {
  const stepUp = requiredStepUp(view);
  totpField.hidden = stepUp !== 'totp';
  totpInput.required = stepUp === 'totp';
  requireElement('passkey-hint', HTMLElement).hidden = stepUp !== 'webauthn';
}

/**
 * @param {string} message  empty clears the error
 */
function setTotpError(message) {
  totpError.textContent = message;
  totpError.hidden = message === '';
  if (message) totpInput.setAttribute('aria-invalid', 'true');
  else totpInput.removeAttribute('aria-invalid');
}

/**
 * The authenticator code for an approval: 6 digits (spaces a phone may insert are dropped).
 * Null, with the field marked and focused, when it is not 6 digits.
 * @returns {string | null}
 */
function readTotpCode() {
  const code = totpInput.value.replace(/\s+/g, '');
  if (/^[0-9]{6}$/.test(code)) {
    setTotpError('');
    return code;
  }
  setTotpError(
    code === ''
      ? 'Enter the 6-digit code from your authenticator app: approving needs it.'
      : 'Enter exactly 6 digits, as your authenticator app shows them.',
  );
  totpInput.focus();
  return null;
}

/** Renders the whole page from `currentView` and the clock. */
function render() {
  const view = currentView;
  if (!view) return;
  const now = Date.now();
  const decidable = isDecidable(view, now);
  const outcome = describeOutcome(view, now);

  // The title bar cannot show markers as such; it gets the revealed text, cut short.
  const titleText = revealTextAsString(view.action_description);
  const shortDescription = titleText.length > 60 ? `${titleText.slice(0, 57)}…` : titleText;
  document.title = `${decidable ? '' : `${outcome.label}: `}${shortDescription} · loopgate`;

  const badge = requireElement('status-badge', HTMLElement);
  badge.textContent = outcome.label;
  badge.className = `badge badge-${outcome.kind}`;
  // Once decided, the outcome section's heading says the state; the badge would say it twice.
  badge.hidden = !decidable;
  const description = requireElement('description', HTMLElement);
  description.classList.toggle('description-long', view.action_description.length > 160);
  replaceChildren(description, revealHiddenCharacters(view.action_description));
  replaceChildren(requireElement('agent', HTMLElement), revealHiddenCharacters(view.agent_id));
  replaceChildren(requireElement('requested', HTMLElement), [createTimeElement(view.created_at)]);
  replaceChildren(requireElement('expires', HTMLElement), [createTimeElement(view.expires_at)]);
  const toolCall = requireElement('tool-call', HTMLElement);
  toolCall.hidden = !view.tool;
  replaceChildren(
    requireElement('tool-name', HTMLElement),
    revealHiddenCharacters(view.tool ?? ''),
  );
  renderDetails(view);
  const quorum = renderQuorum(view);
  renderStepUp(view);

  // A request that is no longer pending shows no buttons at all; one whose time ran out while
  // this page was open keeps them, disabled, until the server marks it timed_out. A quorum
  // approver who has voted, or an operator who is not an approver, has nothing left to do.
  const waitingForOthers = view.status === 'pending' && quorum !== null && quorum.myVote !== null;
  const excluded =
    view.status === 'pending' && quorum !== null && quorum.myVote === null && !quorum.mayVote;
  voteRecorded.hidden = !waitingForOthers;
  if (waitingForOthers) voteRecorded.textContent = describeRecordedVote(quorum);
  notApprover.hidden = !excluded;
  if (excluded) {
    notApprover.textContent = `Only ${quorum.approvers.join(', ')} can decide this request; you are signed in as ${operatorName}.`;
  }
  if (decidable) buildForm(view);
  form.hidden = !(view.status === 'pending' && formBuilt) || waitingForOthers || excluded;
  approveButton.disabled = !decidable || decisionInFlight;
  rejectButton.disabled = !decidable || decisionInFlight;
  requireElement('outcome', HTMLElement).hidden = decidable;
  if (!decidable) renderOutcome(view, now);

  wasDecidable = decidable;
  renderTimeLeft();
}

/**
 * Takes a newer view (from the API or the event stream) and tells screen-reader users when the
 * request stopped being decidable for a reason other than their own click.
 * @param {ApprovalView} incoming
 * @param {{ announceChange?: boolean }} [options]
 */
function updateView(incoming, options = {}) {
  const before = currentView;
  const focusWasInForm = form.contains(document.activeElement);
  currentView = pickLaterView(currentView, incoming);
  render();
  if (
    options.announceChange &&
    before &&
    before.status === 'pending' &&
    currentView.status !== 'pending'
  ) {
    // The outcome section says who decided; the announcement only points to it, so the same
    // sentence is not on the page twice.
    announce(
      currentView.status === 'responded'
        ? 'This request has just been decided elsewhere. The outcome is shown below the details.'
        : 'This request can no longer be decided. The reason is shown below the details.',
    );
    if (focusWasInForm || document.activeElement === document.body) {
      requireElement('outcome-heading', HTMLElement).focus();
    }
  }
}

/**
 * @param {string} message  empty hides the error
 */
function showDecisionError(message) {
  decisionError.textContent = message;
  decisionError.hidden = message === '';
}

/**
 * Sends Approve or Reject once: both buttons stay disabled until the server answers, so a
 * double tap cannot send two decisions. Approve adds the gate's step-up first: the
 * Authenticator code, or a passkey assertion made for this request.
 * @param {'approved' | 'rejected'} decision
 */
async function submitDecision(decision) {
  if (decisionInFlight || !currentView || !pauseId || !isDecidable(currentView)) return;
  showDecisionError('');
  const stepUp = decision === 'approved' ? requiredStepUp(currentView) : 'none';
  const fields = collectFields(decision);
  if (!fields) {
    showDecisionError('Some fields need your attention before you can approve.');
    return;
  }
  if (decision === 'rejected') setTotpError('');
  /** @type {string | null} */
  let totpCode = null;
  if (stepUp === 'totp') {
    totpCode = readTotpCode();
    if (totpCode === null) return;
  }
  /** @type {import('./grantChoice.js').GrantBody | null} */
  let grant = null;
  /** @type {Record<string, unknown> | null} */
  let editedArguments = null;
  try {
    grant = decision === 'approved' ? readGrantChoice() : null;
    editedArguments = decision === 'approved' ? readEditedArguments() : null;
    if (grant && editedArguments)
      throw new Error(
        'An edited call is approved once: choose “This call, once”, or undo your changes.',
      );
  } catch (err) {
    showDecisionError(err instanceof Error ? err.message : String(err));
    return;
  }
  decisionInFlight = true;
  approveButton.disabled = true;
  rejectButton.disabled = true;
  form.setAttribute('aria-busy', 'true');
  try {
    /** @type {Parameters<typeof postDecision>[1]} */
    const body = { decision, comment: commentInput.value, fields };
    if (totpCode !== null) body.totp_code = totpCode;
    if (grant) body.grant = grant;
    if (editedArguments) body.arguments = editedArguments;
    if (stepUp === 'webauthn') {
      sendingStatus.textContent = 'Preparing your passkey…';
      const options = await fetchPasskeyOptions(pauseId);
      sendingStatus.textContent = 'Confirm with your passkey…';
      body.webauthn = await usePasskey(options);
    }
    sendingStatus.textContent =
      decision === 'approved' ? 'Sending your approval…' : 'Sending your rejection…';
    const decided = await postDecision(pauseId, body);
    decisionInFlight = false;
    sendingStatus.textContent = '';
    totpInput.value = '';
    updateView(decided);
    if (decided.status === 'pending') {
      // A quorum that needs more approvers: the vote counts, the request stays open. The notice
      // is a live region and takes focus, so it is read once, not twice.
      voteRecorded.focus();
      return;
    }
    // Focus on the outcome heading makes screen readers read the result.
    requireElement('outcome-heading', HTMLElement).focus();
  } catch (err) {
    decisionInFlight = false;
    sendingStatus.textContent = '';
    const message =
      err instanceof ApiError || err instanceof PasskeyError
        ? err.message
        : 'The decision could not be sent. Try again.';
    const code = err instanceof ApiError ? err.code : null;
    if (code !== null && totpRefusals.has(code)) {
      // Said once: under the code field, an alert (read once; the field's description leaves it
      // out so that focusing the field does not read it again). The form-level error stays off.
      totpInput.value = '';
      setTotpError(message);
      totpInput.focus();
    } else {
      showDecisionError(message);
    }
    if (
      err instanceof ApiError &&
      (err.status === 409 || (code !== null && voidingRefusals.has(code)))
    ) {
      // Someone else decided it, it expired, or the refusals voided it: show what happened
      // instead of the buttons.
      await fetchApproval(pauseId).then(updateView, () => undefined);
    }
    render();
  } finally {
    form.removeAttribute('aria-busy');
  }
}

/**
 * Copies the receipt, with a fallback for pages served over plain HTTP on a LAN address, where
 * the async Clipboard API is not available (it needs a secure context).
 */
async function copyReceipt() {
  const receipt = requireElement('receipt', HTMLTextAreaElement);
  const status = requireElement('copy-status', HTMLElement);
  let copied = false;
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(receipt.value);
      copied = true;
    } catch {
      // Permission refused: fall back to selecting the text.
    }
  }
  if (!copied) {
    receipt.focus();
    receipt.select();
    try {
      copied = document.execCommand('copy');
    } catch {
      copied = false;
    }
  }
  status.textContent = copied
    ? 'Copied.'
    : 'Could not copy: the receipt is selected, copy it by hand.';
}

/**
 * Shows why the page cannot show the request.
 * @param {string} message
 */
function showLoadError(message) {
  const state = requireElement('load-state', HTMLElement);
  state.classList.add('notice-error');
  state.setAttribute('role', 'alert');
  state.textContent = message;
  state.hidden = false;
}

async function main() {
  approveButton.addEventListener('click', () => void submitDecision('approved'));
  rejectButton.addEventListener('click', () => void submitDecision('rejected'));
  // Enter in a field must never decide: buttons are type=button and submission is a no-op.
  form.addEventListener('submit', (event) => event.preventDefault());
  requireElement('copy-receipt', HTMLButtonElement).addEventListener(
    'click',
    () => void copyReceipt(),
  );
  const receipt = requireElement('receipt', HTMLTextAreaElement);
  receipt.addEventListener('focus', () => receipt.select());

  try {
    operatorName = (await startSignedInPage()).operator.name;
  } catch (err) {
    showLoadError(err instanceof ApiError ? err.message : 'This page could not be loaded.');
    return;
  }
  if (!pauseId) {
    showLoadError('This address names no approval request. Open one from the inbox.');
    return;
  }
  const id = pauseId;
  subscribeToApprovals({
    onApproval(view) {
      if (view.pause_id === id) updateView(view, { announceChange: !decisionInFlight });
    },
    onConnectionChange(connected, reconnected) {
      showConnectionState(connected, reconnected);
      if (reconnected)
        fetchApproval(id).then(
          (view) => updateView(view, { announceChange: true }),
          () => undefined,
        );
    },
  });
  try {
    const view = await fetchApproval(id);
    if (view.tool && view.status === 'pending') {
      const offer = await fetchGrantOffer(id);
      readGrantChoice = setUpGrantChoice(
        offer,
        /** @type {Record<string, unknown>} */ (view.action_details),
      );
      if (view.editable) {
        const editor = setUpArgumentEdit(
          /** @type {Record<string, unknown>} */ (view.action_details),
        );
        readEditedArguments = editor.read;
        editor.onChange((edited) => {
          approveButton.textContent = edited ? 'Approve edited call' : 'Approve';
        });
      }
    }
    updateView(view);
  } catch (err) {
    showLoadError(err instanceof ApiError ? err.message : 'This request could not be loaded.');
    return;
  }
  requireElement('load-state', HTMLElement).hidden = true;
  requireElement('approval', HTMLElement).hidden = false;
  setInterval(renderTimeLeft, 1000);
}

void main();
