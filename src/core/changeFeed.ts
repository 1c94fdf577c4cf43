/** What happened to a request; the `type` of every approval change. */
export type ApprovalChangeType =
  'created' | 'voted' | 'decided' | 'cancelled' | 'voided' | 'timed_out' | 'consumed';

/** Every {@link ApprovalChangeType}, for parsers. */
export const approvalChangeTypes: readonly ApprovalChangeType[] = [
  'created',
  'voted',
  'decided',
  'cancelled',
  'voided',
  'timed_out',
  'consumed',
];

/**
 * A hint that a request changed: its type and id, nothing else (no content travels, so a
 * feed carries nothing a database reader could not see anyway). The receiver reads the request
 * from the store, which is the truth; a notice may arrive late, twice, or never.
 */
export interface ChangeNotice {
  type: ApprovalChangeType;
  /** The request's id (`pa_…`). */
  id: string;
}

/**
 * How the servers of one deployment tell each other that a request changed, so that waiters
 * and live pages on every server wake when any server stores a decision (DESIGN.md, "Several
 * servers"). A feed never echoes a server's own notices back to it. Delivery is best effort:
 * the consumer re-reads the requests it waits on now and then, and after `onGap` at once.
 */
export interface ChangeFeed {
  /** Tells the other servers about a change this server stored. Never throws or rejects. */
  publish(notice: ChangeNotice): void;
  /** Calls `listener` for each notice another server published; returns the unsubscribe. */
  onRemoteChange(listener: (notice: ChangeNotice) => void): () => void;
  /**
   * Calls `listener` when notices may have been missed (the feed's connection dropped and came
   * back); returns the unsubscribe.
   */
  onGap(listener: () => void): () => void;
  /** True when other servers may publish (a shared database), so re-reading is worth it. */
  readonly shared: boolean;
}

/**
 * The feed of a single process (SQLite): there is no other server, so publishing does nothing
 * and no notice ever arrives.
 */
export const singleProcessChangeFeed: ChangeFeed = {
  publish: () => undefined,
  onRemoteChange: () => () => undefined,
  onGap: () => () => undefined,
  shared: false,
};

/**
 * Reads a notice from its wire form (`{"type":"decided","id":"pa_…"}`); null for anything
 * else, so a stray or foreign payload is ignored.
 */
export function parseChangeNotice(payload: string): ChangeNotice | null {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { type, id } = value as Record<string, unknown>;
  if (typeof type !== 'string' || !(approvalChangeTypes as readonly string[]).includes(type))
    return null;
  if (typeof id !== 'string' || id.length === 0 || id.length > 200) return null;
  return { type: type as ApprovalChangeType, id };
}

/** The wire form of a notice, which {@link parseChangeNotice} reads. */
export function formatChangeNotice(notice: ChangeNotice): string {
  return JSON.stringify({ type: notice.type, id: notice.id });
}
