import type { Validation } from '../core/errors.js';

/** Who must agree: `n` distinct operators from `approvers` (operator names, exact match). */
export type QuorumRule = { n: number; approvers: readonly string[] };

/** One operator's decision on a quorum request, in the API's words. */
export type QuorumVote = { operator: string; decision: 'approved' | 'rejected' };

/**
 * Where a quorum stands. `approvedBy` lists each distinct approving operator once, in the
 * order they voted (the receipt lists them); `missing` is how many more approvals are needed,
 * 0 once the quorum is approved or rejected.
 */
export type QuorumTally = {
  state: 'pending' | 'approved' | 'rejected';
  approvedBy: string[];
  /** The operator whose reject decided it, or null. */
  rejectedBy: string | null;
  missing: number;
};

function refuseNonApprover(quorum: QuorumRule, operator: string): Validation<never> {
  return {
    ok: false,
    code: 'E_QUORUM_NOT_APPROVER',
    message: `Operator ${JSON.stringify(operator)} is not an approver of this request; its quorum needs ${quorum.n} of ${quorum.approvers.join(', ')}.`,
  };
}

/**
 * Tallies the votes on a quorum request: approved once `n` distinct operators from the list
 * have approved; rejected as soon as any of them rejects (one reject rejects, even after `n`
 * approvals were reached in the same list — a stored reject is never outvoted); pending
 * otherwise. An operator who approved twice counts once.
 *
 * Step-ups (a TOTP code or passkey per approver) are checked before a vote is recorded, not
 * here.
 *
 * @returns the tally, or `E_QUORUM_NOT_APPROVER` naming the first vote by someone not in
 *   `quorum.approvers` (such a vote must never have been recorded).
 */
export function evaluateQuorum(
  quorum: QuorumRule,
  votes: readonly QuorumVote[],
): Validation<QuorumTally> {
  const approvers = new Set(quorum.approvers);
  const approvedBy: string[] = [];
  let rejectedBy: string | null = null;
  for (const vote of votes) {
    if (!approvers.has(vote.operator)) return refuseNonApprover(quorum, vote.operator);
    if (vote.decision === 'rejected') rejectedBy ??= vote.operator;
    else if (!approvedBy.includes(vote.operator)) approvedBy.push(vote.operator);
  }
  if (rejectedBy !== null)
    return { ok: true, value: { state: 'rejected', approvedBy, rejectedBy, missing: 0 } };
  const missing = Math.max(0, quorum.n - approvedBy.length);
  return {
    ok: true,
    value: { state: missing === 0 ? 'approved' : 'pending', approvedBy, rejectedBy, missing },
  };
}

/**
 * Checks one new vote against the votes recorded so far, for the transaction that records
 * it: the operator must be an approver, must not have voted on this request yet, and the
 * quorum must still be pending.
 *
 * @returns the votes with the new one appended and their tally; or `E_QUORUM_NOT_APPROVER`,
 *   `E_QUORUM_ALREADY_VOTED`, or `E_APPROVAL_ALREADY_DECIDED` when the quorum was already
 *   approved or rejected.
 */
export function addQuorumVote(
  quorum: QuorumRule,
  votes: readonly QuorumVote[],
  vote: QuorumVote,
): Validation<{ votes: QuorumVote[]; tally: QuorumTally }> {
  if (!quorum.approvers.includes(vote.operator)) return refuseNonApprover(quorum, vote.operator);
  const before = evaluateQuorum(quorum, votes);
  if (!before.ok) return before;
  if (before.value.state !== 'pending') {
    return {
      ok: false,
      code: 'E_APPROVAL_ALREADY_DECIDED',
      message: `The quorum was already ${before.value.state}; no further votes count.`,
    };
  }
  if (votes.some((v) => v.operator === vote.operator)) {
    return {
      ok: false,
      code: 'E_QUORUM_ALREADY_VOTED',
      message: `Operator ${JSON.stringify(vote.operator)} already voted on this request; each approver counts once. ${before.value.missing} more approvals from the other approvers are needed.`,
    };
  }
  const next = [...votes, vote];
  const after = evaluateQuorum(quorum, next);
  if (!after.ok) return after;
  return { ok: true, value: { votes: next, tally: after.value } };
}
