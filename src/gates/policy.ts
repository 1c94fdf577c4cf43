import type { GrantReach } from '../core/grant.js';

/**
 * The gate a tool call must pass before the gateway forwards it:
 * - `none`: forwarded at once.
 * - `approve`: a signed-in operator approves that call with those arguments.
 * - `totp`: as `approve`, plus a fresh authenticator code (RFC 6238) typed on our page.
 * - `webauthn`: as `approve`, plus a passkey assertion with user verification.
 * - `quorum`: `n` distinct operators from a list approve, each with the rule's step-up.
 * - `otp_argument`: the tool gains a required `otp` argument holding an authenticator code
 *   (kept for compatibility; the agent sees the code, so it is the weakest gate).
 * - `deny`: never forwarded.
 */
export type Gate = 'none' | 'approve' | 'totp' | 'webauthn' | 'quorum' | 'otp_argument' | 'deny';

/** Every gate, in the order error messages list them. */
export const gates = [
  'none',
  'approve',
  'totp',
  'webauthn',
  'quorum',
  'otp_argument',
  'deny',
] as const satisfies readonly Gate[];

/** The gates `default:` may name: every gate but `quorum`, which needs a rule's `quorum:`. */
export const defaultGates = [
  'none',
  'approve',
  'totp',
  'webauthn',
  'otp_argument',
  'deny',
] as const satisfies readonly Gate[];

/** What each approver of a quorum must show besides the click. */
export type QuorumStepUp = 'none' | 'totp' | 'webauthn';

/** A rule's `quorum:` block: `n` distinct approvers from `approvers` (operator names). */
export type PolicyQuorum = { n: number; approvers: string[]; stepUp: QuorumStepUp };

/** The comparison operators a `when:` condition may use. */
export type ConditionOperator = 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte' | 'matches';

/**
 * One comparison of one argument. `path` is the argument name as written; `segments` is it
 * split on dots for nested arguments (`payee.iban` → `["payee", "iban"]`).
 */
export type PolicyCondition = { path: string; segments: string[] } & (
  | { operator: 'eq' | 'ne'; value: string | number | boolean | null }
  | { operator: 'gt' | 'gte' | 'lt' | 'lte'; value: number }
  | { operator: 'matches'; value: string; regex: RegExp }
);

/**
 * How a rule (or the whole policy) is applied: `enforce` holds calls back as its gate says;
 * `shadow` forwards them and records in the audit log (`gateway.shadow`) what the gate would
 * have asked, so a policy can be tuned before it is enforced.
 */
export type PolicyMode = 'enforce' | 'shadow';

/** Every mode, in the order error messages list them. */
export const policyModes = ['enforce', 'shadow'] as const satisfies readonly PolicyMode[];

/**
 * Who makes the call, for rules with `agent:`: the proxy's agent, i.e. the agent key's name
 * (the agent id of its requests) and, when the proxy uses a key, that key's id (`key_…`).
 */
export type PolicyAgent = { name: string; keyId: string | null };

/**
 * What a rule may match besides the tool name and its arguments: the agent making the call and
 * whether the wrapped server annotates the tool `readOnlyHint: true` (MCP tool annotations; an
 * absent hint means not read-only). Unknown (absent) agent: rules with `agent:` never match.
 */
export type CallContext = { agent?: PolicyAgent | null; readOnly?: boolean };

/**
 * A rule's `grants:` block: the reaches beyond "this call once" a human may choose when
 * approving a call the rule holds back (core/grant.ts), with the longest a grant may last
 * (`max_minutes`) and the most uses it may allow (`max_uses`, null: no bound).
 */
export type PolicyGrants = {
  reaches: GrantReach[];
  maxMinutes: number;
  maxUses: number | null;
};

/** The longest a standing grant may last: 30 days, in minutes. */
export const maxGrantMinutes = 30 * 24 * 60;

/** One rule of the policy, compiled. */
export type PolicyRule = {
  /** The glob as written: `*` is any run of characters, `?` one character. */
  tool: string;
  /** The glob compiled to an anchored regular expression. */
  toolPattern: RegExp;
  /**
   * The `agent:` globs as written, or null when the rule applies to every agent. A glob
   * matches the agent's name or its key id.
   */
  agents: string[] | null;
  /** The `agent:` globs compiled (empty when `agents` is null). */
  agentPatterns: RegExp[];
  /** `read_only:` as written: true matches tools annotated `readOnlyHint: true`, false the rest. */
  readOnly: boolean | null;
  /** The rule's own `mode:`, or null to follow the policy's. */
  mode: PolicyMode | null;
  /** All must hold for the rule to apply; empty when the rule has no `when:`. */
  when: PolicyCondition[];
  gate: Gate;
  /** Present exactly when `gate` is `quorum`. */
  quorum: PolicyQuorum | null;
  /** How long the approval stays open, in minutes. */
  timeoutMinutes: number;
  /** What else than "this call once" an approval may grant; null: once only. */
  grants: PolicyGrants | null;
  /** The 1-based line of the rule in the policy file, or null when it did not come from one. */
  line: number | null;
};

/** A parsed, validated policy (see `parsePolicy`). Rules are tried in order; first match wins. */
export type Policy = {
  /** The gate for tools no rule names. */
  defaultGate: Gate;
  /** The policy's `mode:` (default `enforce`): rules without their own follow it, and so does `default`. */
  mode: PolicyMode;
  /** The approval timeout, in minutes, of rules without `timeout_minutes` and of `default`. */
  timeoutMinutes: number;
  rules: PolicyRule[];
  /** The file name the policy came from, for messages. */
  source: string;
  /**
   * The policy file's text as parsed, sent with a gated call's approval request so the server
   * can apply the same policy to arguments a human edits; absent for policies built in code.
   */
  text?: string;
};

/** The timeout of a gated call's approval when the policy names none, in minutes. */
export const defaultTimeoutMinutes = 30;

/** The longest approval timeout a policy may ask for: 7 days, in minutes. */
export const maxTimeoutMinutes = 7 * 24 * 60;

/**
 * Compiles a tool-name glob to an anchored regular expression: `*` matches any run of
 * characters (also none), `?` exactly one; every other character matches itself.
 */
export function compileToolGlob(glob: string): RegExp {
  let source = '';
  for (const char of glob) {
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else source += char.replace(/[\\^$.|+()[\]{}/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 'su');
}
