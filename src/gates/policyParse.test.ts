import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isLoopgateError } from '../core/errors.js';
import type { Policy } from './policy.js';
import { parsePolicy, readPolicyFile } from './policyParse.js';

const example = `default: none                      # gate for tools no rule names
rules:                             # first match wins
  - tool: "get_weather"
    gate: totp
  - tool: "transfer_*"
    when: { "amount": { gt: 1000 } }
    gate: quorum
    quorum: { n: 2, approvers: [finance-lead, cto], step_up: totp }
    timeout_minutes: 30
`;

function parseOk(text: string, fileName = 'policy.yaml'): Policy {
  const result = parsePolicy(text, fileName);
  if (!result.ok) throw new Error(`expected a valid policy, got: ${result.message}`);
  return result.value;
}

/** The message lines of a refused policy file. */
function refusal(text: string, fileName = 'policy.yaml'): string[] {
  const result = parsePolicy(text, fileName);
  if (result.ok) throw new Error('expected the policy to be refused');
  expect(result.code).toBe('E_POLICY_INVALID');
  return result.message.split('\n');
}

describe('parsePolicy: valid files', () => {
  it('reads the example of issue 3 into rules with their lines', () => {
    const policy = parseOk(example);
    expect(policy.defaultGate).toBe('none');
    expect(policy.timeoutMinutes).toBe(30);
    expect(policy.source).toBe('policy.yaml');
    expect(policy.rules).toHaveLength(2);
    expect(policy.rules[0]).toMatchObject({
      tool: 'get_weather',
      gate: 'totp',
      when: [],
      quorum: null,
      line: 3,
    });
    expect(policy.rules[1]).toMatchObject({
      tool: 'transfer_*',
      gate: 'quorum',
      quorum: { n: 2, approvers: ['finance-lead', 'cto'], stepUp: 'totp' },
      timeoutMinutes: 30,
      when: [{ path: 'amount', segments: ['amount'], operator: 'gt', value: 1000 }],
      line: 5,
    });
  });

  it('reads the same policy written as JSON', () => {
    const json = JSON.stringify({
      default: 'approve',
      timeout_minutes: 60,
      rules: [
        { tool: 'get_*', gate: 'none' },
        {
          tool: 'pay',
          when: { 'payee.iban': { matches: '^DE' }, currency: 'EUR' },
          gate: 'webauthn',
        },
      ],
    });
    const policy = parseOk(json, 'policy.json');
    expect(policy.defaultGate).toBe('approve');
    expect(policy.rules[1]!.timeoutMinutes).toBe(60);
    expect(policy.rules[1]!.when.map((c) => [c.path, c.operator, c.value])).toEqual([
      ['payee.iban', 'matches', '^DE'],
      ['currency', 'eq', 'EUR'],
    ]);
  });

  it('accepts a file with only a default, and defaults the quorum step-up to none', () => {
    expect(parseOk('default: deny\n').rules).toEqual([]);
    const policy = parseOk(
      'default: none\nrules:\n  - {tool: x, gate: quorum, quorum: {n: 1, approvers: [a]}}\n',
    );
    expect(policy.rules[0]!.quorum).toEqual({ n: 1, approvers: ['a'], stepUp: 'none' });
  });
});

describe('parsePolicy: refusals name the file, the line and what was expected', () => {
  it('refuses an unknown gate', () => {
    const text = example.replace('gate: totp', 'gate: totpp');
    expect(refusal(text)).toEqual([
      'policy.yaml:4: rules[0].gate must be one of none|approve|totp|webauthn|quorum|otp_argument|deny (got "totpp")',
    ]);
  });

  it('refuses quorum as the default gate', () => {
    expect(refusal('default: quorum\n')).toEqual([
      'policy.yaml:1: default must be one of none|approve|totp|webauthn|otp_argument|deny (got "quorum")',
    ]);
  });

  it('refuses a missing default', () => {
    expect(refusal('rules: []\n')).toEqual([
      'policy.yaml:1: default is required (one of none|approve|totp|webauthn|otp_argument|deny)',
    ]);
  });

  it('refuses an empty file and a file that is not a mapping', () => {
    expect(refusal('')).toEqual([
      'policy.yaml:1: the file is empty; expected a mapping with default and rules',
    ]);
    expect(refusal('- a\n')).toEqual([
      'policy.yaml:1: the policy must be a mapping with default and rules (got ["a"])',
    ]);
  });

  it('refuses YAML syntax errors with their line', () => {
    const lines = refusal('default: none\nrules:\n  - tool: [x\n    gate: totp\n');
    expect(lines[0]).toMatch(/^policy\.yaml:[34]: /);
  });

  it('refuses duplicate keys, in YAML and in JSON', () => {
    expect(refusal('default: none\ndefault: totp\n')[0]).toMatch(/^policy\.yaml:2: .*unique/);
    expect(refusal('{"default": "none",\n "default": "deny"}', 'p.json')[0]).toMatch(
      /^p\.json:2: /,
    );
  });

  it('refuses unknown keys at each level, listing the allowed ones', () => {
    const text = [
      'default: none',
      'gates: []',
      'rules:',
      '  - tool: a',
      '    gate: totp',
      '    timeout: 5',
      '  - tool: b',
      '    gate: quorum',
      '    quorum: { n: 1, approvers: [x], stepup: totp }',
      '  - tool: c',
      '    gate: approve',
      '    when: { amount: { greater: 5 } }',
    ].join('\n');
    expect(refusal(text)).toEqual([
      'policy.yaml:2: the policy has unknown key "gates" (expected default|mode|rules|timeout_minutes)',
      'policy.yaml:6: rules[0] has unknown key "timeout" (expected tool|agent|read_only|when|gate|mode|quorum|timeout_minutes|grants)',
      'policy.yaml:9: rules[1].quorum has unknown key "stepup" (expected n|approvers|step_up)',
      'policy.yaml:12: rules[2].when.amount has unknown key "greater" (expected eq|ne|gt|gte|lt|lte|matches)',
    ]);
  });

  it('refuses a missing or empty tool glob', () => {
    expect(refusal('default: none\nrules:\n  - gate: totp\n')).toEqual([
      'policy.yaml:3: rules[0].tool is required (a string)',
    ]);
    expect(refusal('default: none\nrules:\n  - tool: ""\n    gate: totp\n')).toEqual([
      'policy.yaml:3: rules[0].tool must not be empty',
    ]);
  });

  it('refuses rules that are not a list, and a rule that is not a mapping', () => {
    expect(refusal('default: none\nrules: {}\n')).toEqual([
      'policy.yaml:2: rules must be a list (got {})',
    ]);
    expect(refusal('default: none\nrules:\n  - get_weather\n')).toEqual([
      'policy.yaml:3: rules[0] must be a mapping (got "get_weather")',
    ]);
  });

  it('refuses a bad regular expression in matches, with its line', () => {
    const text =
      'default: none\nrules:\n  - tool: pay\n    gate: totp\n    when:\n      payee.iban: { matches: "(DE" }\n';
    const [line, ...rest] = refusal(text);
    expect(rest).toEqual([]);
    expect(line).toMatch(
      /^policy\.yaml:6: rules\[0\]\.when\["payee\.iban"\]\.matches must be a regular expression \(.*\)$/,
    );
  });

  it('refuses comparison operands of the wrong type and empty or non-scalar conditions', () => {
    const text = [
      'default: none',
      'rules:',
      '  - tool: pay',
      '    gate: totp',
      '    when:',
      '      amount: { gt: "1000" }',
      '      currency: { eq: [EUR] }',
      '      payee: {}',
      '      items: [1, 2]',
    ].join('\n');
    expect(refusal(text)).toEqual([
      'policy.yaml:6: rules[0].when.amount.gt must be a number (got "1000")',
      'policy.yaml:7: rules[0].when.currency.eq must be a string, a number, true, false or null (got ["EUR"])',
      'policy.yaml:8: rules[0].when.payee must name at least one of eq|ne|gt|gte|lt|lte|matches',
      'policy.yaml:9: rules[0].when.items must be a value to equal or a mapping of eq|ne|gt|gte|lt|lte|matches (got [1,2])',
    ]);
  });

  it('refuses quorum mistakes: missing block, block on another gate, n too big, repeated approver, no approvers', () => {
    const text = [
      'default: none',
      'rules:',
      '  - tool: a',
      '    gate: quorum',
      '  - tool: b',
      '    gate: totp',
      '    quorum: { n: 1, approvers: [x] }',
      '  - tool: c',
      '    gate: quorum',
      '    quorum: { n: 3, approvers: [x, y] }',
      '  - tool: d',
      '    gate: quorum',
      '    quorum:',
      '      n: 2',
      '      approvers: [x, x]',
      '  - tool: e',
      '    gate: quorum',
      '    quorum: { n: 0, approvers: [], step_up: sms }',
    ].join('\n');
    expect(refusal(text)).toEqual([
      'policy.yaml:3: rules[0].quorum is required when gate is quorum (e.g. quorum: { n: 2, approvers: [alice, bob] })',
      'policy.yaml:7: rules[1].quorum is only allowed with gate: quorum (got gate: totp)',
      'policy.yaml:10: rules[2].quorum.n must be at most the number of approvers listed (2) (got 3)',
      'policy.yaml:15: rules[3].quorum.approvers[1] must name each approver once (got "x")',
      'policy.yaml:18: rules[4].quorum.n must be at least 1 (got 0)',
      'policy.yaml:18: rules[4].quorum.approvers must list at least 1',
      'policy.yaml:18: rules[4].quorum.step_up must be one of none|totp|webauthn (got "sms")',
    ]);
  });

  it('refuses timeouts that are not whole minutes between 1 and 7 days', () => {
    expect(refusal('default: none\ntimeout_minutes: 0\n')).toEqual([
      'policy.yaml:2: timeout_minutes must be at least 1 (got 0)',
    ]);
    expect(
      refusal('default: none\nrules:\n  - {tool: a, gate: approve, timeout_minutes: 1.5}\n'),
    ).toEqual(['policy.yaml:3: rules[0].timeout_minutes must be a whole number (got 1.5)']);
    expect(refusal('default: none\ntimeout_minutes: 10081\n')).toEqual([
      'policy.yaml:2: timeout_minutes must be at most 10080 (got 10081)',
    ]);
  });

  it('reports every problem of a file at once, in line order', () => {
    const text =
      'default: nope\nrules:\n  - tool: a\n    gate: totpp\n  - tool: b\n    gate: approve\n    extra: 1\n';
    expect(refusal(text).map((l) => l.split(':')[1])).toEqual(['1', '4', '7']);
  });
});

describe('parsePolicy: agent, read_only and mode', () => {
  it('reads agent as one name or a list, read_only, and mode on rules and the policy', () => {
    const policy = parseOk(
      [
        'default: approve',
        'mode: shadow',
        'rules:',
        '  - { tool: "*", read_only: true, gate: none }',
        '  - { tool: deploy, agent: deploy-bot, gate: totp, mode: enforce }',
        '  - { tool: deploy, agent: [a, "ci-*"], gate: approve }',
      ].join('\n'),
    );
    expect(policy.mode).toBe('shadow');
    expect(policy.rules[0]).toMatchObject({ readOnly: true, agents: null, mode: null });
    expect(policy.rules[1]).toMatchObject({ agents: ['deploy-bot'], mode: 'enforce' });
    expect(policy.rules[2]?.agents).toEqual(['a', 'ci-*']);
    expect(policy.rules[2]?.agentPatterns.map((p) => p.test('ci-7'))).toEqual([false, true]);
    expect(parseOk('default: none').mode).toBe('enforce');
  });

  it('refuses a bad agent, read_only or mode with its line', () => {
    const text = [
      'default: none',
      'mode: dry-run',
      'rules:',
      '  - { tool: a, agent: 5, gate: none }',
      '  - { tool: b, agent: [], gate: none }',
      '  - { tool: c, read_only: "yes", gate: none }',
      '  - { tool: d, gate: none, mode: off }',
    ].join('\n');
    expect(refusal(text)).toEqual([
      'policy.yaml:2: mode must be one of enforce|shadow (got "dry-run")',
      'policy.yaml:4: rules[0].agent must be an agent name or a list of agent names (got 5)',
      'policy.yaml:5: rules[1].agent must list at least 1',
      'policy.yaml:6: rules[2].read_only must be true or false (got "yes")',
      'policy.yaml:7: rules[3].mode must be one of enforce|shadow (got "off")',
    ]);
  });
});

describe('readPolicyFile', () => {
  it('reads a file and names it in errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loopgate-policy-'));
    const good = join(dir, 'policy.yaml');
    await writeFile(good, example);
    expect((await readPolicyFile(good)).rules).toHaveLength(2);

    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'default: totpp\n');
    const err = await readPolicyFile(bad).catch((e: unknown) => e);
    expect(isLoopgateError(err, 'E_POLICY_INVALID')).toBe(true);
    expect((err as Error).message).toContain(`${bad}:1: default must be one of`);
  });

  it('refuses a file that does not exist', async () => {
    const missing = join(tmpdir(), 'loopgate-no-such-policy.yaml');
    const err = await readPolicyFile(missing).catch((e: unknown) => e);
    expect(isLoopgateError(err, 'E_POLICY_INVALID')).toBe(true);
    expect((err as Error).message).toContain(`Cannot read the policy file ${missing}`);
  });
});

describe('parsePolicy: grants', () => {
  it('reads grants: into the reaches a rule offers, once first; no grants: offers once only', () => {
    const policy = parseOk(`default: none
rules:
  - tool: get_weather
    gate: approve
    grants: { max_minutes: 60, patterns: true, session: true, max_uses: 5 }
  - tool: pay
    gate: totp
    grants: { max_minutes: 10 }
  - tool: fetch
    gate: webauthn
    grants: { max_minutes: 10, exact: false, session: true }
  - tool: other
    gate: approve
`);
    expect(policy.rules.map((r) => r.grants)).toEqual([
      { reaches: ['once', 'exact', 'tool', 'session'], maxMinutes: 60, maxUses: 5 },
      { reaches: ['once', 'exact'], maxMinutes: 10, maxUses: null },
      { reaches: ['once', 'session'], maxMinutes: 10, maxUses: null },
      null,
    ]);
  });

  it('refuses grants on gates that ask no human once, bad values and unknown keys, with lines', () => {
    expect(
      refusal(`default: none
rules:
  - tool: a
    gate: approve
    grants: { max_minutes: 60, patterns: true, bogus: 1 }
  - tool: b
    gate: quorum
    quorum: { n: 1, approvers: [x] }
    grants: { max_minutes: 0 }
  - tool: c
    gate: approve
    grants: { max_minutes: 10, exact: false }
  - tool: d
    gate: none
    grants: { max_minutes: 10 }
  - tool: e
    gate: approve
    grants: { max_minutes: 10, max_uses: 1.5 }
`),
    ).toEqual([
      'policy.yaml:5: rules[0].grants has unknown key "bogus" (expected max_minutes|exact|patterns|session|max_uses)',
      'policy.yaml:9: rules[1].grants.max_minutes must be at least 1 (got 0)',
      'policy.yaml:9: rules[1].grants is only allowed with gate: approve|totp|webauthn (got gate: quorum)',
      'policy.yaml:12: rules[2].grants offers nothing beyond once; set exact, patterns or session to true, or drop grants:',
      'policy.yaml:15: rules[3].grants is only allowed with gate: approve|totp|webauthn (got gate: none)',
      'policy.yaml:18: rules[4].grants.max_uses must be a whole number (got 1.5)',
    ]);
  });
});
