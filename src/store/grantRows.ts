import type { GateSpec } from '../core/approval.js';
import type { ArgumentConstraints, GrantOffer, GrantRecord } from '../core/grant.js';

/**
 * A `grants` row as SQLite and PostgreSQL return it (JSON columns as text; PostgreSQL's BIGINT
 * times arrive as strings, so numbers are read with `Number`).
 */
export interface GrantRow {
  id: string;
  pause_id: string;
  agent_id: string;
  tool: string;
  reach: GrantRecord['reach'];
  action_hash: string | null;
  constraints: string | null;
  session_id: string | null;
  gate: string;
  granted_by: string;
  created_at: number | string;
  not_after: number | string;
  max_uses: number | string | null;
  uses: number | string;
  revoked_at: number | string | null;
  revoked_by: string | null;
  receipt: string;
}

const numberOrNull = (value: number | string | null): number | null =>
  value === null ? null : Number(value);

/** Reads a `grants` row. */
export function toGrant(row: GrantRow): GrantRecord {
  return {
    id: row.id,
    pauseId: row.pause_id,
    agentId: row.agent_id,
    tool: row.tool,
    reach: row.reach,
    actionHash: row.action_hash,
    constraints:
      row.constraints === null ? null : (JSON.parse(row.constraints) as ArgumentConstraints),
    sessionId: row.session_id,
    gate: JSON.parse(row.gate) as GateSpec,
    grantedBy: row.granted_by,
    createdAt: Number(row.created_at),
    notAfter: Number(row.not_after),
    maxUses: numberOrNull(row.max_uses),
    uses: Number(row.uses),
    revokedAt: numberOrNull(row.revoked_at),
    revokedBy: row.revoked_by,
    receipt: row.receipt,
  };
}

/** The column values of a new `grants` row, in {@link grantColumns} order. */
export function grantValues(record: GrantRecord): unknown[] {
  return [
    record.id,
    record.pauseId,
    record.agentId,
    record.tool,
    record.reach,
    record.actionHash,
    record.constraints === null ? null : JSON.stringify(record.constraints),
    record.sessionId,
    JSON.stringify(record.gate),
    record.grantedBy,
    record.createdAt,
    record.notAfter,
    record.maxUses,
    record.uses,
    record.revokedAt,
    record.revokedBy,
    record.receipt,
  ];
}

/** The `grants` columns {@link grantValues} fills, in order. */
export const grantColumns = [
  'id',
  'pause_id',
  'agent_id',
  'tool',
  'reach',
  'action_hash',
  'constraints',
  'session_id',
  'gate',
  'granted_by',
  'created_at',
  'not_after',
  'max_uses',
  'uses',
  'revoked_at',
  'revoked_by',
  'receipt',
] as const;

/** Reads a stored grant offer (JSON text). */
export function toGrantOffer(text: string): GrantOffer {
  return JSON.parse(text) as GrantOffer;
}
