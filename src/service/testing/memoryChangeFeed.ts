import type { ChangeFeed, ChangeNotice } from '../../core/changeFeed.js';

/** The servers of one test deployment, linked by an in-memory change feed. */
export interface MemoryChangeFeedHub {
  /** A feed for one more server: it hears every other server's notices, never its own. */
  connect(): ChangeFeed;
  /** While true, every published notice is lost (a dropped connection, a lost NOTIFY). */
  dropping: boolean;
  /** Every notice published so far, in order, dropped ones included. */
  readonly published: readonly ChangeNotice[];
  /** Tells every feed that notices may have been missed (as after a reconnect). */
  reportGap(): void;
}

/**
 * An in-memory stand-in for PostgreSQL's LISTEN/NOTIFY between several {@link ApprovalService}
 * instances of one test, delivering each notice asynchronously (as a network would) and
 * losing notices on demand, to test that the service treats a notice as a hint only.
 */
export function createMemoryChangeFeedHub(): MemoryChangeFeedHub {
  const members: {
    changes: Set<(notice: ChangeNotice) => void>;
    gaps: Set<() => void>;
  }[] = [];
  const published: ChangeNotice[] = [];
  const hub: MemoryChangeFeedHub = {
    dropping: false,
    published,
    reportGap() {
      for (const member of members) for (const gap of member.gaps) gap();
    },
    connect() {
      const self = {
        changes: new Set<(notice: ChangeNotice) => void>(),
        gaps: new Set<() => void>(),
      };
      members.push(self);
      return {
        shared: true,
        publish(notice) {
          published.push(notice);
          if (hub.dropping) return;
          for (const member of members) {
            if (member === self) continue;
            for (const listener of member.changes) setImmediate(() => listener(notice));
          }
        },
        onRemoteChange(listener) {
          self.changes.add(listener);
          return () => self.changes.delete(listener);
        },
        onGap(listener) {
          self.gaps.add(listener);
          return () => self.gaps.delete(listener);
        },
      };
    },
  };
  return hub;
}
