import { describe, expect, it } from 'vitest';
import type { Policy } from './policy.js';
import { describeGate, describeToolGates, formatPolicyExplanation } from './policyDescribe.js';
import { evaluatePolicy, explainPolicy, listToolGates } from './policyEvaluate.js';
import { parsePolicy } from './policyParse.js';

function policyOf(text: string): Policy {
  const result = parsePolicy(text, 'policy.yaml');
  if (!result.ok) throw new Error(result.message);
  return result.value;
}

const policy = policyOf(`default: none
timeout_minutes: 20
rules:
  - tool: "get_weather"
    gate: totp
  - tool: "transfer_*"
    when: { "amount": { gt: 1000 } }
    gate: quorum
    quorum: { n: 2, approvers: [finance-lead, cto], step_up: totp }
    timeout_minutes: 30
  - tool: "transfer_*"
    gate: approve
  - tool: "delete_?"
    gate: deny
  - tool: "pay"
    when: { "payee.iban": { matches: "^DE" }, currency: EUR }
    gate: webauthn
  - tool: "legacy.tool(1)"
    gate: otp_argument
`);

describe('evaluatePolicy', () => {
  it('applies the default to a tool no rule names, with the policy timeout', () => {
    expect(evaluatePolicy(policy, 'get_color', {})).toEqual({
      gate: 'none',
      rule: null,
      ruleIndex: null,
      timeoutMinutes: 20,
      mode: 'enforce',
    });
  });

  it('matches a tool by exact name', () => {
    expect(evaluatePolicy(policy, 'get_weather', { city: 'Oslo' })).toMatchObject({
      gate: 'totp',
      ruleIndex: 0,
    });
    expect(evaluatePolicy(policy, 'get_weather2', {}).gate).toBe('none');
  });

  it('takes the first matching rule: a large transfer needs the quorum, a small one the next rule', () => {
    const large = evaluatePolicy(policy, 'transfer_funds', { amount: 5000 });
    expect(large).toMatchObject({
      gate: 'quorum',
      ruleIndex: 1,
      timeoutMinutes: 30,
      quorum: { n: 2, approvers: ['finance-lead', 'cto'], stepUp: 'totp' },
    });
    expect(large.rule?.line).toBe(6);
    expect(evaluatePolicy(policy, 'transfer_funds', { amount: 1000 })).toMatchObject({
      gate: 'approve',
      ruleIndex: 2,
    });
    expect(evaluatePolicy(policy, 'transfer_funds', { amount: 1000 }).quorum).toBeUndefined();
  });

  it('first match wins even when a later rule is stricter', () => {
    const lenientFirst = policyOf(
      'default: deny\nrules:\n  - {tool: "*", gate: none}\n  - {tool: rm, gate: deny}\n',
    );
    expect(evaluatePolicy(lenientFirst, 'rm', {})).toMatchObject({ gate: 'none', ruleIndex: 0 });
  });

  it('globs: * is any run (also none), ? exactly one character, the rest literal', () => {
    expect(evaluatePolicy(policy, 'transfer_', {}).gate).toBe('approve');
    expect(evaluatePolicy(policy, 'delete_x', {}).gate).toBe('deny');
    expect(evaluatePolicy(policy, 'delete_', {}).gate).toBe('none');
    expect(evaluatePolicy(policy, 'delete_xy', {}).gate).toBe('none');
    expect(evaluatePolicy(policy, 'legacy.tool(1)', {}).gate).toBe('otp_argument');
    expect(evaluatePolicy(policy, 'legacyXtool(1)', {}).gate).toBe('none');
    expect(evaluatePolicy(policy, 'xtransfer_funds', {}).gate).toBe('none');
  });

  it('reads nested arguments by dotted path and needs every condition to hold', () => {
    expect(
      evaluatePolicy(policy, 'pay', { payee: { iban: 'DE89370400440532013000' }, currency: 'EUR' })
        .gate,
    ).toBe('webauthn');
    expect(
      evaluatePolicy(policy, 'pay', { payee: { iban: 'DE89370400440532013000' }, currency: 'USD' })
        .gate,
    ).toBe('none');
    expect(
      evaluatePolicy(policy, 'pay', {
        payee: { iban: 'FR7630006000011234567890189' },
        currency: 'EUR',
      }).gate,
    ).toBe('none');
    // An argument whose own name has a dot is read when it is the only reading.
    expect(evaluatePolicy(policy, 'pay', { 'payee.iban': 'DE00', currency: 'EUR' }).gate).toBe(
      'webauthn',
    );
  });

  it('denies a call whose flat key would shadow the nested path a condition names', () => {
    const trusted = policyOf(
      'default: totp\nrules:\n  - {tool: pay, gate: none, when: {"payee.iban": "DE89-trusted"}}\n',
    );
    expect(evaluatePolicy(trusted, 'pay', { payee: { iban: 'DE89-trusted' } }).gate).toBe('none');
    expect(evaluatePolicy(trusted, 'pay', { payee: { iban: 'GB33-attacker' } }).gate).toBe('totp');
    // The attack: the policy would read the flat key, the tool the nested one.
    const shadowed = evaluatePolicy(trusted, 'pay', {
      'payee.iban': 'DE89-trusted',
      payee: { iban: 'GB33-attacker' },
    });
    expect(shadowed.gate).toBe('deny');
    expect(shadowed.reason).toMatch(/payee\.iban can be read two ways/);
    // Also when the values agree, and when the dotted key sits deeper down.
    expect(
      evaluatePolicy(trusted, 'pay', {
        'payee.iban': 'DE89-trusted',
        payee: { iban: 'DE89-trusted' },
      }).gate,
    ).toBe('deny');
    const deep = policyOf(
      'default: totp\nrules:\n  - {tool: pay, gate: none, when: {"a.b.c": 1}}\n',
    );
    expect(evaluatePolicy(deep, 'pay', { a: { 'b.c': 1, b: { c: 2 } } }).gate).toBe('deny');
    expect(evaluatePolicy(deep, 'pay', { a: { 'b.c': 1 } }).gate).toBe('none');
  });

  it('reads array elements by index in a path', () => {
    const p = policyOf(
      'default: none\nrules:\n  - {tool: t, gate: totp, when: {"items.1.qty": {gte: 10}}}\n',
    );
    expect(evaluatePolicy(p, 't', { items: [{ qty: 1 }, { qty: 10 }] }).gate).toBe('totp');
    expect(evaluatePolicy(p, 't', { items: [{ qty: 1 }, { qty: 9 }] }).gate).toBe('none');
    expect(evaluatePolicy(p, 't', { items: [{ qty: 100 }] }).gate).toBe('none');
  });

  it('implements each operator', () => {
    const p = policyOf(`default: none
rules:
  - {tool: eq, gate: totp, when: {v: {eq: 5}}}
  - {tool: ne, gate: totp, when: {v: {ne: "x"}}}
  - {tool: gt, gate: totp, when: {v: {gt: 5}}}
  - {tool: gte, gate: totp, when: {v: {gte: 5}}}
  - {tool: lt, gate: totp, when: {v: {lt: 5}}}
  - {tool: lte, gate: totp, when: {v: {lte: 5}}}
  - {tool: matches, gate: totp, when: {v: {matches: "^a.c$"}}}
  - {tool: bool, gate: totp, when: {v: true}}
  - {tool: isnull, gate: totp, when: {v: null}}
`);
    const gated = (tool: string, v: unknown) => evaluatePolicy(p, tool, { v }).gate === 'totp';
    expect([4, 5, 6].map((v) => gated('eq', v))).toEqual([false, true, false]);
    expect(['x', 'y'].map((v) => gated('ne', v))).toEqual([false, true]);
    expect([4, 5, 6].map((v) => gated('gt', v))).toEqual([false, false, true]);
    expect([4, 5, 6].map((v) => gated('gte', v))).toEqual([false, true, true]);
    expect([4, 5, 6].map((v) => gated('lt', v))).toEqual([true, false, false]);
    expect([4, 5, 6].map((v) => gated('lte', v))).toEqual([true, true, false]);
    expect(['abc', 'aXc', 'abcd'].map((v) => gated('matches', v))).toEqual([true, true, false]);
    expect([true, false, 'true'].map((v) => gated('bool', v))).toEqual([true, false, false]);
    expect([null, 0, ''].map((v) => gated('isnull', v))).toEqual([true, false, false]);
  });

  it('compares numbers sent as strings as numbers', () => {
    expect(evaluatePolicy(policy, 'transfer_funds', { amount: '1500' }).gate).toBe('quorum');
    expect(evaluatePolicy(policy, 'transfer_funds', { amount: ' 1e4 ' }).gate).toBe('quorum');
    expect(evaluatePolicy(policy, 'transfer_funds', { amount: '999.99' }).gate).toBe('approve');
  });

  it('fails closed: a value that cannot be compared denies the call and says why', () => {
    const decision = evaluatePolicy(policy, 'transfer_funds', { amount: '5,000' });
    expect(decision).toMatchObject({ gate: 'deny', ruleIndex: 1 });
    expect(decision.reason).toBe(
      'argument amount is "5,000" (string), which cannot be compared as a number (gt 1000)',
    );
    expect(evaluatePolicy(policy, 'transfer_funds', { amount: { value: 5000 } }).gate).toBe('deny');
    expect(evaluatePolicy(policy, 'pay', { payee: { iban: ['DE'] }, currency: 'EUR' }).gate).toBe(
      'deny',
    );
  });

  it('lets a definite mismatch win over a value it cannot compare (both must hold)', () => {
    expect(evaluatePolicy(policy, 'pay', { payee: { iban: ['DE'] }, currency: 'USD' }).gate).toBe(
      'none',
    );
  });

  it('treats a missing argument as not meeting the condition', () => {
    expect(evaluatePolicy(policy, 'transfer_funds', {}).gate).toBe('approve');
    expect(evaluatePolicy(policy, 'transfer_funds', undefined).gate).toBe('approve');
    expect(evaluatePolicy(policy, 'transfer_funds', { amount: null }).gate).toBe('approve');
  });

  it('never reads inherited properties', () => {
    const p = policyOf(
      'default: none\nrules:\n  - {tool: t, gate: deny, when: {"constructor.name": Object}}\n',
    );
    expect(evaluatePolicy(p, 't', {}).gate).toBe('none');
  });
});

describe('listToolGates', () => {
  it('lists the conditional rules up to the first unconditional one', () => {
    expect(listToolGates(policy, 'transfer_funds').map((d) => [d.gate, d.ruleIndex])).toEqual([
      ['quorum', 1],
      ['approve', 2],
    ]);
    expect(listToolGates(policy, 'pay').map((d) => [d.gate, d.ruleIndex])).toEqual([
      ['webauthn', 4],
      ['none', null],
    ]);
    expect(listToolGates(policy, 'get_color').map((d) => d.gate)).toEqual(['none']);
  });
});

describe('describeGate and describeToolGates', () => {
  it('says in one sentence what a human must do', () => {
    const say = (tool: string, args: unknown = {}) =>
      describeGate(evaluatePolicy(policy, tool, args));
    expect(say('get_color')).toBe("Runs without a human's approval.");
    expect(say('transfer_x')).toBe("Needs a human's approval before it runs.");
    expect(say('get_weather')).toBe(
      "Needs a human's approval with an authenticator code before it runs.",
    );
    expect(say('pay', { payee: { iban: 'DE1' }, currency: 'EUR' })).toBe(
      "Needs a human's approval with a passkey before it runs.",
    );
    expect(say('transfer_x', { amount: 2000 })).toBe(
      'Needs approval by 2 of finance-lead, cto, each with an authenticator code, before it runs.',
    );
    expect(say('legacy.tool(1)')).toBe(
      'Needs a current authenticator code from a human in its otp argument.',
    );
    expect(say('delete_x')).toBe('Is refused by policy and never runs.');
    expect(say('transfer_x', { amount: 'lots' })).toBe(
      'Is refused: argument amount is "lots" (string), which cannot be compared as a number (gt 1000).',
    );
  });

  it('describes a tool with its conditions for tools/list', () => {
    expect(describeToolGates(policy, 'transfer_funds')).toBe(
      'Needs approval by 2 of finance-lead, cto, each with an authenticator code, before it runs, when amount > 1000. ' +
        "Otherwise, needs a human's approval before it runs.",
    );
    expect(describeToolGates(policy, 'pay')).toBe(
      'Needs a human\'s approval with a passkey before it runs, when payee.iban matches /^DE/ and currency = "EUR". ' +
        "Otherwise, runs without a human's approval.",
    );
    expect(describeToolGates(policy, 'get_weather')).toBe(
      "Needs a human's approval with an authenticator code before it runs.",
    );
  });
});

describe('rules that match the agent and the tool’s read-only annotation', () => {
  const fitted = policyOf(`default: approve
rules:
  - tool: "*"
    read_only: true
    gate: none
  - tool: "deploy_*"
    agent: [deploy-bot, "key_ci*"]
    gate: totp
  - tool: "deploy_*"
    gate: deny
`);
  const deployBot = { name: 'deploy-bot', keyId: 'key_aaaa' };
  const other = { name: 'helper', keyId: 'key_bbbb' };

  it('lets reads pass and asks for writes with one rule', () => {
    expect(evaluatePolicy(fitted, 'get_weather', {}, { readOnly: true }).gate).toBe('none');
    expect(evaluatePolicy(fitted, 'send_email', {}, { readOnly: false }).gate).toBe('approve');
    // No annotation is no promise: a tool without readOnlyHint is a write.
    expect(evaluatePolicy(fitted, 'send_email', {}).gate).toBe('approve');
  });

  it('applies an agent rule only to that agent, by key name or key id', () => {
    expect(evaluatePolicy(fitted, 'deploy_app', {}, { agent: deployBot })).toMatchObject({
      gate: 'totp',
      ruleIndex: 1,
    });
    expect(
      evaluatePolicy(fitted, 'deploy_app', {}, { agent: { name: 'ci', keyId: 'key_ci42' } }).gate,
    ).toBe('totp');
    expect(evaluatePolicy(fitted, 'deploy_app', {}, { agent: other })).toMatchObject({
      gate: 'deny',
      ruleIndex: 2,
    });
    // An unknown agent never meets a rule that names agents.
    expect(evaluatePolicy(fitted, 'deploy_app', {}).gate).toBe('deny');
  });

  it('lists and describes only the rules that can apply to the tool and agent', () => {
    expect(listToolGates(fitted, 'deploy_app', { agent: other }).map((d) => d.gate)).toEqual([
      'deny',
    ]);
    expect(describeToolGates(fitted, 'get_weather', { readOnly: true })).toBe(
      "Runs without a human's approval.",
    );
  });
});

describe('shadow mode', () => {
  it('marks decisions of a shadow rule, and of every rule and the default under a shadow policy', () => {
    const perRule = policyOf(`default: approve
rules:
  - { tool: transfer, gate: quorum, quorum: { n: 2, approvers: [a, b] }, mode: shadow }
  - { tool: delete, gate: deny }
`);
    expect(evaluatePolicy(perRule, 'transfer', {})).toMatchObject({
      gate: 'quorum',
      mode: 'shadow',
    });
    expect(evaluatePolicy(perRule, 'delete', {}).mode).toBe('enforce');
    expect(evaluatePolicy(perRule, 'other', {}).mode).toBe('enforce');
    expect(describeToolGates(perRule, 'transfer')).toMatch(
      /^Runs without a human's approval for now \(shadow mode: loopgate records that it otherwise needs approval by 2 of a, b/,
    );

    const whole = policyOf(`default: approve
mode: shadow
rules:
  - { tool: delete, gate: deny }
  - { tool: pay, gate: totp, mode: enforce }
`);
    expect(evaluatePolicy(whole, 'delete', {}).mode).toBe('shadow');
    expect(evaluatePolicy(whole, 'other', {}).mode).toBe('shadow');
    expect(evaluatePolicy(whole, 'pay', {}).mode).toBe('enforce');
  });
});

describe('explainPolicy', () => {
  const explained = policyOf(`default: none
rules:
  - tool: "get_*"
    read_only: true
    gate: none
  - tool: "transfer_*"
    agent: deploy-bot
    gate: totp
  - tool: "transfer_*"
    when: { amount: { gt: 1000 } }
    gate: approve
`);

  it('gives the same decision as evaluatePolicy, with why each earlier rule did not apply', () => {
    const context = { agent: { name: 'helper', keyId: null } };
    const args = { amount: 5000 };
    const explanation = explainPolicy(explained, 'transfer_funds', args, context);
    expect(explanation.decision).toEqual(
      evaluatePolicy(explained, 'transfer_funds', args, context),
    );
    expect(explanation.checks.map((c) => c.check)).toEqual([
      { kind: 'skipped', on: 'tool' },
      { kind: 'skipped', on: 'agent' },
      { kind: 'matched' },
    ]);
    expect(
      formatPolicyExplanation(explained, explanation, 'transfer_funds', context).split('\n'),
    ).toEqual([
      'policy.yaml:3 (rule 1) {tool: "get_*", read_only: true, gate: none}: skipped: tool "transfer_funds" does not match "get_*"',
      'policy.yaml:6 (rule 2) {tool: "transfer_*", agent: "deploy-bot", gate: totp}: skipped: agent "helper" is not deploy-bot',
      'policy.yaml:9 (rule 3) {tool: "transfer_*", when: amount > 1000, gate: approve}: matches',
      "→ gate approve (enforce), from policy.yaml:9 (rule 3): Needs a human's approval before it runs.",
    ]);
  });

  it('says when a condition does not hold and when the default applies', () => {
    const explanation = explainPolicy(explained, 'transfer_funds', { amount: 5 });
    const text = formatPolicyExplanation(explained, explanation, 'transfer_funds', {});
    expect(text).toMatch(/no agent was given \(--agent\)/);
    expect(text).toMatch(/skipped: condition amount > 1000 does not hold/);
    expect(text).toMatch(
      /No rule applies; the policy's default applies\.\n→ gate none \(enforce\), from default/,
    );
  });
});
