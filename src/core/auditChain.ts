import { createHash } from 'node:crypto';
import { canonicalizeJson } from './canonicalJson.js';

/** The hash that stands before the first entry of an audit log (64 zeros). */
export const auditGenesisHash = '0'.repeat(64);

/** One append-only audit entry. `at` is milliseconds since the Unix epoch. */
export interface AuditEntry {
  seq: number;
  at: number;
  type: string;
  requestId: string | null;
  actor: string;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/**
 * SHA-256 (hex) of the RFC 8785 canonical form of an entry without its own `hash`, which
 * includes `prevHash`: changing, deleting or reordering any entry breaks every later link.
 */
export function computeAuditEntryHash(entry: Omit<AuditEntry, 'hash'>): string {
  const { seq, at, type, requestId, actor, data, prevHash } = entry;
  return createHash('sha256')
    .update(canonicalizeJson({ seq, at, type, requestId, actor, data, prevHash }), 'utf8')
    .digest('hex');
}

/**
 * Walks a chain in `seq` order. Returns the first entry whose link or hash is wrong, or null
 * when every entry is intact.
 */
export function findBrokenAuditEntry(
  entries: readonly AuditEntry[],
): { seq: number; reason: string } | null {
  let prevHash = auditGenesisHash;
  let expectedSeq = entries[0]?.seq ?? 1;
  for (const entry of entries) {
    if (entry.seq !== expectedSeq) {
      return {
        seq: entry.seq,
        reason: `expected entry ${expectedSeq} here, found ${entry.seq} (deleted or reordered)`,
      };
    }
    if (entry.prevHash !== prevHash) {
      return {
        seq: entry.seq,
        reason: 'prevHash does not match the previous entry (deleted, reordered or edited)',
      };
    }
    if (computeAuditEntryHash(entry) !== entry.hash) {
      return { seq: entry.seq, reason: 'hash does not match the entry’s contents (edited)' };
    }
    prevHash = entry.hash;
    expectedSeq += 1;
  }
  return null;
}
