import { describe, expect, it } from 'vitest';
import { addQuorumVote, evaluateQuorum, type QuorumVote } from './quorum.js';

const quorum = { n: 2, approvers: ['finance-lead', 'cto', 'ceo'] };
const approve = (operator: string): QuorumVote => ({ operator, decision: 'approved' });
const reject = (operator: string): QuorumVote => ({ operator, decision: 'rejected' });

describe('evaluateQuorum', () => {
  it('is pending with n missing before any vote', () => {
    expect(evaluateQuorum(quorum, [])).toEqual({
      ok: true,
      value: { state: 'pending', approvedBy: [], rejectedBy: null, missing: 2 },
    });
  });

  it('is approved once n distinct approvers approved, listing them in vote order', () => {
    expect(evaluateQuorum(quorum, [approve('cto'), approve('finance-lead')])).toEqual({
      ok: true,
      value: {
        state: 'approved',
        approvedBy: ['cto', 'finance-lead'],
        rejectedBy: null,
        missing: 0,
      },
    });
  });

  it('counts one operator approving twice once', () => {
    const tally = evaluateQuorum(quorum, [approve('cto'), approve('cto')]);
    expect(tally).toEqual({
      ok: true,
      value: { state: 'pending', approvedBy: ['cto'], rejectedBy: null, missing: 1 },
    });
  });

  it('is rejected by a single reject, even with n approvals present', () => {
    expect(evaluateQuorum(quorum, [approve('cto'), reject('ceo')])).toMatchObject({
      ok: true,
      value: { state: 'rejected', rejectedBy: 'ceo', missing: 0 },
    });
    expect(
      evaluateQuorum(quorum, [approve('cto'), approve('ceo'), reject('finance-lead')]),
    ).toMatchObject({
      ok: true,
      value: { state: 'rejected', approvedBy: ['cto', 'ceo'] },
    });
  });

  it('refuses a vote by someone not in the list, naming them', () => {
    const result = evaluateQuorum(quorum, [approve('cto'), approve('intern')]);
    expect(result).toEqual({
      ok: false,
      code: 'E_QUORUM_NOT_APPROVER',
      message:
        'Operator "intern" is not an approver of this request; its quorum needs 2 of finance-lead, cto, ceo.',
    });
  });

  it('matches names exactly', () => {
    expect(evaluateQuorum(quorum, [approve('CTO')]).ok).toBe(false);
  });
});

describe('addQuorumVote', () => {
  it('records votes until the quorum is reached', () => {
    const first = addQuorumVote(quorum, [], approve('cto'));
    expect(first).toMatchObject({ ok: true, value: { tally: { state: 'pending', missing: 1 } } });
    const votes = first.ok ? first.value.votes : [];
    const second = addQuorumVote(quorum, votes, approve('ceo'));
    expect(second).toMatchObject({
      ok: true,
      value: {
        votes: [approve('cto'), approve('ceo')],
        tally: { state: 'approved', approvedBy: ['cto', 'ceo'] },
      },
    });
  });

  it('refuses a non-approver', () => {
    expect(addQuorumVote(quorum, [], approve('intern'))).toMatchObject({
      ok: false,
      code: 'E_QUORUM_NOT_APPROVER',
    });
  });

  it('refuses a second vote by the same operator, approve or reject', () => {
    expect(addQuorumVote(quorum, [approve('cto')], approve('cto'))).toMatchObject({
      ok: false,
      code: 'E_QUORUM_ALREADY_VOTED',
    });
    expect(addQuorumVote(quorum, [approve('cto')], reject('cto'))).toMatchObject({
      ok: false,
      code: 'E_QUORUM_ALREADY_VOTED',
    });
  });

  it('refuses any vote once the quorum is decided', () => {
    expect(
      addQuorumVote(quorum, [approve('cto'), approve('ceo')], reject('finance-lead')),
    ).toMatchObject({
      ok: false,
      code: 'E_APPROVAL_ALREADY_DECIDED',
      message: expect.stringContaining('already approved'),
    });
    expect(addQuorumVote(quorum, [reject('cto')], approve('ceo'))).toMatchObject({
      ok: false,
      code: 'E_APPROVAL_ALREADY_DECIDED',
      message: expect.stringContaining('already rejected'),
    });
  });

  it('rejects on the first reject', () => {
    expect(addQuorumVote(quorum, [approve('cto')], reject('ceo'))).toMatchObject({
      ok: true,
      value: { tally: { state: 'rejected', rejectedBy: 'ceo' } },
    });
  });
});
