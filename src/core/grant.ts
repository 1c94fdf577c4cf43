/**
 * Standing grants (DESIGN.md "Grant"): an approval a human chose on purpose to reach beyond
 * "this call once" — a tool, argument constraints, an agent, `not_after` and `max_uses`, signed
 * like a receipt, revocable, every use audited. Pure types and rules; no I/O.
 */
import type { GateSpec, JsonValue } from './approval.js';
import { canonicalizeJson } from './canonicalJson.js';
import type { Validation } from './errors.js';

/**
 * How far an approval reaches:
 * - `once`: this call, once (every gated approval; no grant is made).
 * - `exact`: this exact call (same tool, same arguments) for N minutes.
 * - `tool`: this tool with argument constraints (`city: *`, `amount ≤ 100`) for N minutes.
 * - `session`: this tool with any arguments, for this agent's session (one proxy connection).
 */
export type GrantReach = 'once' | 'exact' | 'tool' | 'session';

/** Every reach, in the order pages and messages list them. */
export const grantReaches = [
  'once',
  'exact',
  'tool',
  'session',
] as const satisfies readonly GrantReach[];

/**
 * What a gated call's approval may be turned into, as its policy rule offers it (recorded with
 * the approval when it is created, so a decision cannot ask for more). `reaches` always holds
 * `once`. `maxMinutes` bounds `not_after`; `maxUses` bounds `max_uses` (null: no bound).
 * `sessionId` is the proxy connection a `session` grant would be bound to.
 */
export interface GrantOffer {
  reaches: GrantReach[];
  maxMinutes: number;
  maxUses: number | null;
  sessionId: string | null;
}

/** The offer of a rule without `grants:` (and of anything the server knows no offer for). */
export const onceOnlyOffer: GrantOffer = {
  reaches: ['once'],
  maxMinutes: 0,
  maxUses: null,
  sessionId: null,
};

/**
 * One argument's constraint in a `tool` grant: `"*"` (any value, or absent), `{eq: value}`
 * (exactly this JSON value), `{lte: n}`, `{gte: n}` or both (a number, or a string holding a
 * plain decimal number, within the bounds).
 */
export type ArgumentConstraint = '*' | { eq: JsonValue } | { lte?: number; gte?: number };

/** A `tool` grant's constraints: top-level argument name → constraint. */
export type ArgumentConstraints = Record<string, ArgumentConstraint>;

/** What a human chose on the approval page (beyond `once`). Minutes, not ms. */
export interface GrantChoice {
  reach: Exclude<GrantReach, 'once'>;
  minutes: number;
  maxUses: number | null;
  /** Required for `tool` (as it came in; checked with {@link parseArgumentConstraints}); ignored otherwise. */
  constraints?: unknown;
}

/** A standing grant as the store keeps it. Times are ms since the Unix epoch. */
export interface GrantRecord {
  id: string;
  /** The approval the grant was chosen on. */
  pauseId: string;
  agentId: string;
  tool: string;
  reach: Exclude<GrantReach, 'once'>;
  /** `exact`: the action hash of `{tool, arguments}` the grant allows; else null. */
  actionHash: string | null;
  /** `tool`: the argument constraints; else null. */
  constraints: ArgumentConstraints | null;
  /** `session`: the proxy connection the grant is bound to; else null. */
  sessionId: string | null;
  /** The gate the grant was approved under; it serves only calls the policy gates the same way. */
  gate: GateSpec;
  grantedBy: string;
  createdAt: number;
  notAfter: number;
  /** null: as many uses as fit before `notAfter`. */
  maxUses: number | null;
  uses: number;
  revokedAt: number | null;
  revokedBy: string | null;
  /** Compact JWS (EdDSA, typ `loopgate-grant+jws`) over the grant payload. */
  receipt: string;
}

/** Whether a grant can serve calls at `now`: not revoked, not past `notAfter`, uses left. */
export function isGrantLive(grant: GrantRecord, now: number): boolean {
  return (
    grant.revokedAt === null &&
    grant.notAfter > now &&
    (grant.maxUses === null || grant.uses < grant.maxUses)
  );
}

const numericString = /^\s*[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*$/;

function toNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && numericString.test(value)) return Number(value);
  return null;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Whether `args` meet a `tool` grant's constraints: every argument the call has must be named
 * by a constraint (an argument the human never saw a rule for is never let through), and every
 * constraint must hold (`eq`/`lte`/`gte` need the argument present; `*` allows it absent).
 */
export function matchesConstraints(
  constraints: ArgumentConstraints,
  args: Record<string, unknown>,
): boolean {
  for (const name of Object.keys(args)) if (!Object.hasOwn(constraints, name)) return false;
  for (const [name, constraint] of Object.entries(constraints)) {
    if (constraint === '*') continue;
    if (!Object.hasOwn(args, name)) return false;
    const value = args[name];
    if ('eq' in constraint) {
      if (canonicalizeJson(value) !== canonicalizeJson(constraint.eq)) return false;
      continue;
    }
    const number = toNumber(value);
    if (number === null) return false;
    if (constraint.lte !== undefined && !(number <= constraint.lte)) return false;
    if (constraint.gte !== undefined && !(number >= constraint.gte)) return false;
  }
  return true;
}

/**
 * Whether a grant allows this call of `tool` with `args` (action hash `actionHash`) by the
 * proxy connection `sessionId`. Liveness and the gate are checked apart.
 */
export function grantAllows(
  grant: GrantRecord,
  call: {
    tool: string;
    args: Record<string, unknown>;
    actionHash: string;
    sessionId: string | null;
  },
): boolean {
  if (grant.tool !== call.tool) return false;
  if (grant.reach === 'exact') return grant.actionHash === call.actionHash;
  if (grant.reach === 'session')
    return grant.sessionId !== null && grant.sessionId === call.sessionId;
  return grant.constraints !== null && matchesConstraints(grant.constraints, call.args);
}

/** The most constraints a `tool` grant may hold. */
const maxConstraints = 50;

/**
 * Checks constraints as they came in (JSON): names are non-empty, values are `"*"`, `{eq}` or
 * `{lte?, gte?}` with finite numbers (at least one bound, `gte ≤ lte`).
 */
export function parseArgumentConstraints(input: unknown): Validation<ArgumentConstraints> {
  const fail = (message: string): Validation<ArgumentConstraints> => ({
    ok: false,
    code: 'E_GRANT_INVALID',
    message,
  });
  if (!isPlainObject(input)) return fail('constraints must be an object of argument → constraint.');
  const entries = Object.entries(input);
  if (entries.length > maxConstraints)
    return fail(`constraints may name at most ${maxConstraints} arguments.`);
  const out: ArgumentConstraints = {};
  for (const [name, raw] of entries) {
    if (name === '') return fail('constraint names must not be empty.');
    if (raw === '*') {
      out[name] = '*';
      continue;
    }
    if (!isPlainObject(raw))
      return fail(
        `constraint ${name} must be "*", {"eq": value} or {"lte"/"gte": number} (got ${JSON.stringify(raw)}).`,
      );
    const keys = Object.keys(raw);
    if (keys.length === 1 && keys[0] === 'eq') {
      out[name] = { eq: raw['eq'] as JsonValue };
      continue;
    }
    const bounds: { lte?: number; gte?: number } = {};
    for (const key of keys) {
      const value = raw[key];
      if ((key !== 'lte' && key !== 'gte') || typeof value !== 'number' || !Number.isFinite(value))
        return fail(
          `constraint ${name} must be "*", {"eq": value} or {"lte"/"gte": number} (got ${JSON.stringify(raw)}).`,
        );
      bounds[key] = value;
    }
    if (bounds.lte === undefined && bounds.gte === undefined)
      return fail(`constraint ${name} must name eq, lte or gte.`);
    if (bounds.lte !== undefined && bounds.gte !== undefined && bounds.gte > bounds.lte)
      return fail(`constraint ${name} has gte ${bounds.gte} above lte ${bounds.lte}.`);
    out[name] = bounds;
  }
  return { ok: true, value: out };
}

/** A constraint in the page's words: `city: *`, `amount ≤ 100`, `to = "ACME"`. */
export function describeConstraint(name: string, constraint: ArgumentConstraint): string {
  if (constraint === '*') return `${name}: *`;
  if ('eq' in constraint) return `${name} = ${JSON.stringify(constraint.eq)}`;
  const parts: string[] = [];
  if (constraint.gte !== undefined) parts.push(`${name} ≥ ${constraint.gte}`);
  if (constraint.lte !== undefined) parts.push(`${name} ≤ ${constraint.lte}`);
  return parts.join(', ');
}

/** A standing grant a call was forwarded under, as the gateway tells its client (`_meta`). */
export interface GrantUse {
  grant_id: string;
  reach: Exclude<GrantReach, 'once'>;
  /** Uses counted so far, this one included. */
  uses: number;
  max_uses: number | null;
  /** ISO 8601. */
  not_after: string;
}

/** What the gateway tells its client of the grant a call ran under. */
export function toGrantUse(grant: GrantRecord): GrantUse {
  return {
    grant_id: grant.id,
    reach: grant.reach,
    uses: grant.uses,
    max_uses: grant.maxUses,
    not_after: new Date(grant.notAfter).toISOString(),
  };
}
