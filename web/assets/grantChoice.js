// @ts-check
/**
 * The reach chooser of the approval page: when the policy rule behind a gated call offers
 * standing grants (`GET /v1/approvals/:id/grant-offer`), the human picks how far Approve reaches
 * — this call once (the default), this exact call for N minutes, this tool within argument
 * limits (`city: any`, `amount ≤ 100`) for N minutes, or this tool for the agent's session — and
 * at most how many uses. The server refuses anything the rule did not offer.
 */

import { apiGet } from './api.js';
import { createElement, replaceChildren, requireElement, revealDetailName } from './dom.js';

/**
 * @typedef {{ reaches: string[], max_minutes: number, max_uses: number | null, session: boolean }} GrantOffer
 * @typedef {{ reach: 'exact' | 'tool' | 'session', minutes: number, max_uses?: number, constraints?: Record<string, unknown> }} GrantBody
 */

/** @param {string} pauseId @returns {Promise<GrantOffer>} */
export function fetchGrantOffer(pauseId) {
  return apiGet(`/v1/approvals/${encodeURIComponent(pauseId)}/grant-offer`);
}

/** @param {unknown} value */
const isNumeric = (value) => typeof value === 'number' && Number.isFinite(value);

/**
 * Shows the chooser for `offer` over the call's `args`; returns the function that reads the
 * choice (null for "this call once"), or throws an Error whose message says what to fix.
 * @param {GrantOffer} offer
 * @param {Record<string, unknown>} args
 * @returns {() => GrantBody | null}
 */
export function setUpGrantChoice(offer, args) {
  const fieldset = requireElement('grant-choice', HTMLFieldSetElement);
  const minutes = requireElement('grant-minutes', HTMLInputElement);
  const maxUses = requireElement('grant-max-uses', HTMLInputElement);
  const limits = requireElement('grant-limits', HTMLElement);
  if (offer.reaches.length <= 1) {
    fieldset.hidden = true;
    return () => null;
  }
  fieldset.hidden = false;
  for (const reach of ['exact', 'tool', 'session']) {
    const option = requireElement(`grant-option-${reach}`, HTMLElement);
    option.hidden = !offer.reaches.includes(reach);
  }
  minutes.max = String(offer.max_minutes);
  minutes.value = String(Math.min(60, offer.max_minutes));
  requireElement('grant-minutes-hint', HTMLElement).textContent =
    `At most ${offer.max_minutes} minutes.` +
    (offer.max_uses !== null ? ` At most ${offer.max_uses} uses.` : '');
  if (offer.max_uses !== null) {
    maxUses.max = String(offer.max_uses);
    maxUses.value = String(offer.max_uses);
  }

  // One row per argument: exactly this value, any value, or (numbers) at most / at least.
  replaceChildren(
    limits,
    Object.entries(args).map(([name, value], index) => {
      const select = createElement('select', { id: `grant-limit-${index}`, 'data-arg': name }, [
        createElement('option', { value: 'eq' }, ['exactly this value']),
        createElement('option', { value: 'any' }, ['any value']),
        ...(isNumeric(value)
          ? [
              createElement('option', { value: 'lte' }, [`at most ${String(value)}`]),
              createElement('option', { value: 'gte' }, [`at least ${String(value)}`]),
            ]
          : []),
      ]);
      return createElement('div', { class: 'field' }, [
        createElement('label', { for: `grant-limit-${index}` }, revealDetailName(name)),
        select,
      ]);
    }),
  );
  const toggleLimits = () => {
    limits.hidden = readReach() !== 'tool';
    const onlyOnce = readReach() === 'once';
    minutes.disabled = onlyOnce;
    maxUses.disabled = onlyOnce;
  };
  for (const radio of fieldset.querySelectorAll('input[name="grant-reach"]'))
    radio.addEventListener('change', toggleLimits);
  toggleLimits();

  return () => {
    const reach = readReach();
    if (reach === 'once') return null;
    const n = Number(minutes.value);
    if (!Number.isInteger(n) || n < 1 || n > offer.max_minutes)
      throw new Error(`Minutes must be a whole number from 1 to ${offer.max_minutes}.`);
    /** @type {GrantBody} */
    const body = { reach: /** @type {GrantBody['reach']} */ (reach), minutes: n };
    if (maxUses.value !== '') {
      const uses = Number(maxUses.value);
      if (!Number.isInteger(uses) || uses < 1)
        throw new Error('Uses must be a whole number of at least 1, or empty for no limit.');
      body.max_uses = uses;
    }
    if (reach === 'tool') {
      /** @type {Record<string, unknown>} */
      const constraints = {};
      for (const select of limits.querySelectorAll('select')) {
        const name = select.getAttribute('data-arg') ?? '';
        const value = args[name];
        if (select.value === 'any') constraints[name] = '*';
        else if (select.value === 'lte') constraints[name] = { lte: value };
        else if (select.value === 'gte') constraints[name] = { gte: value };
        else constraints[name] = { eq: value };
      }
      body.constraints = constraints;
    }
    return body;
  };

  function readReach() {
    const checked = fieldset.querySelector('input[name="grant-reach"]:checked');
    return checked instanceof HTMLInputElement ? checked.value : 'once';
  }
}
