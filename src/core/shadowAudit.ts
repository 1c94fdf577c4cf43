import { computeActionHash } from './actionHash.js';
import type { AuditEntry } from './auditChain.js';

/** The audit entry type of a call a shadow-mode policy rule forwarded ("would have asked"). */
export const shadowAuditType = 'gateway.shadow';

/** A call a rule in shadow mode forwarded although its gate would have held it back. */
export interface ShadowCall {
  tool: string;
  arguments: Record<string, unknown>;
  /** The gate the rule names (`approve`, `totp`, …, `deny`). */
  gate: string;
  /** Where the rule is: `policy.yaml:7 (rule 2)`, or `default`. */
  rule: string;
  /** Why a `deny` would have refused it, when a condition could not be evaluated. */
  reason?: string;
}

/**
 * The `gateway.shadow` entry's data: tool, agent, gate, rule and the call's action hash
 * (SHA-256 of the JCS form of `{tool, arguments}`), never the arguments themselves, which may
 * hold secrets and would stay in the append-only log for good.
 */
export function buildShadowAuditData(call: ShadowCall, agentId: string): Record<string, unknown> {
  return {
    tool: call.tool,
    agent: agentId,
    gate: call.gate,
    rule: call.rule,
    action_hash: computeActionHash({ tool: call.tool, arguments: call.arguments }),
    ...(call.reason ? { reason: call.reason } : {}),
  };
}

/** One `gateway.shadow` entry as the shadow page lists it (`at` in ms since the epoch). */
export interface ShadowEntry {
  seq: number;
  at: number;
  tool: string;
  agent: string;
  gate: string;
  rule: string;
  actionHash: string;
  reason: string | null;
}

/** Reads a `gateway.shadow` audit entry; null for any other entry. */
export function readShadowAuditEntry(entry: AuditEntry): ShadowEntry | null {
  if (entry.type !== shadowAuditType) return null;
  const text = (key: string) => {
    const value = entry.data[key];
    return typeof value === 'string' ? value : '';
  };
  return {
    seq: entry.seq,
    at: entry.at,
    tool: text('tool'),
    agent: text('agent'),
    gate: text('gate'),
    rule: text('rule'),
    actionHash: text('action_hash'),
    reason: text('reason') || null,
  };
}
