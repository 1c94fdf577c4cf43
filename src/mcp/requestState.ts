import { randomUUID } from 'node:crypto';
import { LoopgateError } from '../core/errors.js';
import { createClaimSealer } from './sealedClaims.js';

/** What a `requestState` carries: which flow it continues, for which request and action. */
export interface RequestStatePayload {
  /** The tool flow the state continues: `request_approval`, or a gated call's tool name. */
  tool: string;
  /** The approval request (pause) the flow waits on. */
  pause_id: string;
  /** The action hash the pause is for; a retry with other arguments does not match. */
  action_hash: string;
}

/**
 * Seals and opens the `requestState` of input-required results (MCP 2026-07-28,
 * basic/patterns/mrtr): the state travels through the client and comes back as
 * attacker-controlled input, so it is MACed, bound to one agent, expires, and opens once.
 */
export interface RequestStateSealer {
  /** An opaque state string for `payload`, valid for {@link requestStateTtlSeconds}. */
  seal(payload: RequestStatePayload): string;
  /**
   * The payload of a state this sealer issued to this agent, not expired and never opened
   * before. Throws LoopgateError E_MCP_REQUEST_STATE_INVALID (not ours, or altered),
   * E_MCP_REQUEST_STATE_FOREIGN (another agent's), E_MCP_REQUEST_STATE_EXPIRED or
   * E_MCP_REQUEST_STATE_REPLAYED (opened before).
   */
  open(state: string): Promise<RequestStatePayload>;
}

/** How long a sealed `requestState` may be echoed back, in seconds. */
export const requestStateTtlSeconds = 600;

const prefix = 'lgrs1';

/**
 * Remembers used state ids in this process, until they expire: right where one process serves
 * every round of a flow (stdio: `loopgate mcp`, `loopgate proxy`).
 */
export function createMemoryStateClaims(
  now: () => number = Date.now,
): (id: string, expiresAtMs: number) => Promise<boolean> {
  const used = new Map<string, number>();
  return (id, expiresAtMs) => {
    const at = now();
    for (const [key, expires] of used) if (expires < at) used.delete(key);
    if (used.has(id)) return Promise.resolve(false);
    used.set(id, expiresAtMs);
    return Promise.resolve(true);
  };
}

/**
 * Makes the {@link RequestStateSealer} of one agent. The MAC is HMAC-SHA256 (RFC 2104) under a
 * key derived from `secret` (the server's signing secret; a random per-process key when there
 * is none, which only works where one process serves every round) with its own label, so a
 * state MAC is never a receipt's `sha256=` HMAC. `claimOnce(id, expiresAtMs)` records a state's
 * id and says whether it was new: pass a store-backed claim where several servers share a
 * deployment (the `/mcp` endpoint), the in-memory one otherwise.
 */
export function createRequestStateSealer(options: {
  agentId: string;
  secret?: string | undefined;
  claimOnce?: (id: string, expiresAtMs: number) => Promise<boolean>;
  now?: () => number;
}): RequestStateSealer {
  const now = options.now ?? Date.now;
  const claimOnce = options.claimOnce ?? createMemoryStateClaims(now);
  const sealer = createClaimSealer({
    prefix,
    label: 'loopgate mcp requestState v1',
    secret: options.secret,
  });
  const invalid = () =>
    new LoopgateError(
      'E_MCP_REQUEST_STATE_INVALID',
      'The requestState sent back was not issued by this loopgate server or was changed; loopgate did nothing. Call the tool again without requestState.',
    );

  return {
    seal(payload) {
      return sealer.seal({
        ...payload,
        agent: options.agentId,
        exp: Math.floor(now() / 1_000) + requestStateTtlSeconds,
        id: randomUUID(),
      });
    },
    async open(state) {
      const claims = sealer.open(state);
      if (!claims) throw invalid();
      const { tool, pause_id, action_hash, agent, exp, id } = claims;
      if (
        typeof tool !== 'string' ||
        typeof pause_id !== 'string' ||
        typeof action_hash !== 'string' ||
        typeof agent !== 'string' ||
        typeof exp !== 'number' ||
        typeof id !== 'string'
      )
        throw invalid();
      if (agent !== options.agentId)
        throw new LoopgateError(
          'E_MCP_REQUEST_STATE_FOREIGN',
          'The requestState sent back was issued to another agent; loopgate did nothing.',
        );
      if (exp * 1_000 < now())
        throw new LoopgateError(
          'E_MCP_REQUEST_STATE_EXPIRED',
          `The requestState sent back expired at ${new Date(exp * 1_000).toISOString()}; call the tool again without it.`,
        );
      if (!(await claimOnce(id, exp * 1_000)))
        throw new LoopgateError(
          'E_MCP_REQUEST_STATE_REPLAYED',
          'The requestState sent back was already used once; loopgate did nothing. Call the tool again without it.',
        );
      return { tool, pause_id, action_hash };
    },
  };
}
