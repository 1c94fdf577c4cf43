import { computeActionHash } from '../core/actionHash.js';
import { isSameGate, type ApprovalRecord, type GateSpec } from '../core/approval.js';
import { canonicalizeJson } from '../core/canonicalJson.js';
import { LoopgateError } from '../core/errors.js';
import {
  grantAllows,
  isGrantLive,
  matchesConstraints,
  onceOnlyOffer,
  parseArgumentConstraints,
  type GrantChoice,
  type GrantOffer,
  type GrantReach,
  type GrantRecord,
} from '../core/grant.js';
import { createId } from '../core/ids.js';
import {
  buildGrantPayload,
  signGrant,
  verifyGrant,
  type GrantPayload,
} from '../crypto/grantReceipt.js';
import type { Jwks, ReceiptSigningKey } from '../crypto/signingKeys.js';
import { buildJwks } from '../crypto/signingKeys.js';
import type { GrantQuery, Store } from '../store/store.js';
import type { ApprovalService, DecisionInput } from './approvalService.js';

/** Where a grant stands at a moment. */
export type GrantStatus = 'live' | 'expired' | 'used_up' | 'revoked';

/** A grant as the API and pages show it (snake_case, ISO 8601 times). */
export interface GrantView {
  grant_id: string;
  pause_id: string;
  agent: string;
  tool: string;
  reach: GrantRecord['reach'];
  constraints: GrantRecord['constraints'];
  action_hash: string | null;
  session_id: string | null;
  gate: GateSpec;
  granted_by: string;
  granted_at: string;
  not_after: string;
  max_uses: number | null;
  uses: number;
  status: GrantStatus;
  revoked_at: string | null;
  revoked_by: string | null;
  /** The signed grant (compact JWS, typ `loopgate-grant+jws`); `loopgate verify` checks it. */
  receipt: string;
}

/** The status of a grant at `now`. */
export function grantStatus(grant: GrantRecord, now: number): GrantStatus {
  if (grant.revokedAt !== null) return 'revoked';
  if (grant.notAfter <= now) return 'expired';
  if (grant.maxUses !== null && grant.uses >= grant.maxUses) return 'used_up';
  return 'live';
}

/** The public view of a grant at `now`. */
export function toGrantView(grant: GrantRecord, now: number): GrantView {
  return {
    ...buildGrantPayload(grant),
    uses: grant.uses,
    status: grantStatus(grant, now),
    revoked_at: grant.revokedAt === null ? null : new Date(grant.revokedAt).toISOString(),
    revoked_by: grant.revokedBy,
    receipt: grant.receipt,
  };
}

/** How many live grants of one agent and tool a call is checked against. */
const maxGrantsChecked = 200;

/**
 * Standing grants (DESIGN.md "Grant"): records what a gated approval may become (its rule's
 * offer, sent by the gateway when the approval is created), turns an approval into a grant
 * when the deciding human chooses a reach the offer holds (refusing anything else before any
 * decision is stored), lets the gateway forward a call under a live grant (one use counted
 * atomically, audited with the grant id), and lists and revokes grants.
 *
 * A grant is signed with the receipt key (crypto/grantReceipt.ts); its signature is checked
 * against the stored row before every use, so an edited row serves nothing. An approval turned
 * into a grant is consumed at once: the call it was for runs as the grant's first use.
 */
export class GrantService {
  readonly #store: Store;
  readonly #approvals: ApprovalService;
  readonly #receiptKey: ReceiptSigningKey;
  readonly #jwks: Jwks;
  readonly #now: () => number;
  /** Receipts already checked against their row (a grant's signed fields never change). */
  readonly #verified = new Set<string>();

  constructor(deps: {
    store: Store;
    approvals: ApprovalService;
    receiptKey: ReceiptSigningKey;
    now?: () => number;
  }) {
    this.#store = deps.store;
    this.#approvals = deps.approvals;
    this.#receiptKey = deps.receiptKey;
    this.#jwks = buildJwks([deps.receiptKey]);
    this.#now = deps.now ?? Date.now;
  }

  /**
   * Records what a gated approval may become; `once` is always offered. The first offer of an
   * approval stays (a retry of the same pending call keeps it).
   */
  async recordOffer(pauseId: string, offer: GrantOffer): Promise<void> {
    if (offer.reaches.every((reach) => reach === 'once')) return;
    const reaches = [...new Set(['once' as const, ...offer.reaches])];
    await this.#store.saveGrantOffer(pauseId, { ...offer, reaches }, this.#now());
  }

  /** What an approval may become: its recorded offer, or once only. */
  async getOffer(pauseId: string): Promise<GrantOffer> {
    return (await this.#store.getGrantOffer(pauseId)) ?? onceOnlyOffer;
  }

  /**
   * Decides a request as {@link ApprovalService.decide} does and, with `choice`, turns the
   * approval into a standing grant. The choice is checked against the offer recorded with the
   * approval before anything is decided.
   * @throws LoopgateError E_GRANT_NOT_OFFERED (reach, minutes or max_uses beyond the offer; a
   *   request the gateway did not make), E_GRANT_INVALID (a grant with a rejection; constraints
   *   malformed or not allowing the call being approved), and everything `decide` throws
   */
  async decide(
    id: string,
    input: DecisionInput,
    choice: GrantChoice | null,
  ): Promise<{ record: ApprovalRecord; grant: GrantRecord | null }> {
    if (!choice) return { record: await this.#approvals.decide(id, input), grant: null };
    if (input.decision !== 'approved') {
      throw new LoopgateError(
        'E_GRANT_INVALID',
        'A grant comes only with an approval; reject without "grant".',
      );
    }
    const pending = await this.#approvals.getApproval(id);
    const draft = await this.#draftGrant(pending, choice, input.responder);
    const record = await this.#approvals.decide(id, input);
    if (record.status !== 'responded' || record.response?.decision !== 'approved') {
      return { record, grant: null }; // a quorum vote that did not decide yet
    }
    const payload: GrantPayload = buildGrantPayload(draft);
    const grant: GrantRecord = { ...draft, receipt: await signGrant(payload, this.#receiptKey) };
    await this.#store.createGrant(grant, {
      type: 'grant.created',
      requestId: record.id,
      actor: `operator:${input.responder}`,
      data: {
        grant_id: grant.id,
        tool: grant.tool,
        reach: grant.reach,
        not_after: grant.notAfter,
        max_uses: grant.maxUses,
      },
    });
    // The approved call is the grant's to run now, counted as one of its uses.
    await this.#store.consumeApproval(record.id, this.#now(), {
      type: 'approval.consumed',
      requestId: record.id,
      actor: `operator:${input.responder}`,
      data: { action_hash: record.actionHash, tool: record.toolName, grant_id: grant.id },
    });
    return { record: (await this.#store.getApproval(id)) ?? record, grant };
  }

  async #draftGrant(
    record: ApprovalRecord,
    choice: GrantChoice,
    responder: string,
  ): Promise<Omit<GrantRecord, 'receipt'>> {
    const offer = record.toolName === null ? onceOnlyOffer : await this.getOffer(record.id);
    const notOffered = (what: string) =>
      new LoopgateError(
        'E_GRANT_NOT_OFFERED',
        `${what} Request ${record.id} offers: ${offer.reaches.join(', ')}${offer.maxMinutes > 0 ? ` (at most ${offer.maxMinutes} minutes${offer.maxUses !== null ? `, ${offer.maxUses} uses` : ''})` : ''}; nothing was decided.`,
      );
    if (!offer.reaches.includes(choice.reach))
      throw notOffered(`The policy rule did not offer "${choice.reach}".`);
    if (!Number.isInteger(choice.minutes) || choice.minutes < 1)
      throw new LoopgateError(
        'E_GRANT_INVALID',
        `minutes must be a whole number of at least 1 (got ${JSON.stringify(choice.minutes)}).`,
      );
    if (choice.minutes > offer.maxMinutes)
      throw notOffered(`${choice.minutes} minutes is longer than the rule offers.`);
    if (choice.maxUses !== null && (!Number.isInteger(choice.maxUses) || choice.maxUses < 1))
      throw new LoopgateError(
        'E_GRANT_INVALID',
        `max_uses must be a whole number of at least 1 (got ${JSON.stringify(choice.maxUses)}).`,
      );
    const maxUses = choice.maxUses ?? offer.maxUses;
    if (offer.maxUses !== null && maxUses !== null && maxUses > offer.maxUses)
      throw notOffered(`${maxUses} uses is more than the rule offers.`);
    const args = record.actionDetails as Record<string, unknown>;
    let constraints: GrantRecord['constraints'] = null;
    if (choice.reach === 'tool') {
      const parsed = parseArgumentConstraints(choice.constraints);
      if (!parsed.ok) throw new LoopgateError(parsed.code, parsed.message);
      if (!matchesConstraints(parsed.value, args)) {
        throw new LoopgateError(
          'E_GRANT_INVALID',
          `The constraints must allow the call being approved (${record.toolName} with its arguments); name every argument it has.`,
        );
      }
      constraints = parsed.value;
    }
    if (choice.reach === 'session' && offer.sessionId === null)
      throw notOffered('The gateway named no session for this request.');
    const now = this.#now();
    return {
      id: createId('gr'),
      pauseId: record.id,
      agentId: record.agentId,
      tool: record.toolName!,
      reach: choice.reach,
      actionHash: choice.reach === 'exact' ? record.actionHash : null,
      constraints,
      sessionId: choice.reach === 'session' ? offer.sessionId : null,
      gate: record.gate,
      grantedBy: responder,
      createdAt: now,
      notAfter: now + choice.minutes * 60_000,
      maxUses,
      uses: 0,
      revokedAt: null,
      revokedBy: null,
    };
  }

  /**
   * Uses a live grant of `agentId` that allows this call under exactly `gate` (the policy's),
   * of a reach the rule still offers,
   * counting one use atomically and appending `grant.used` with the grant id. Null when no grant
   * allows it (none, expired, used up, revoked, another gate, other arguments or session).
   */
  async useForCall(
    agentId: string,
    call: {
      tool: string;
      arguments: Record<string, unknown>;
      gate: GateSpec;
      sessionId: string | null;
      /** The reaches the policy rule offers now; a grant of another reach serves nothing. */
      reaches?: readonly GrantReach[];
    },
  ): Promise<GrantRecord | null> {
    const now = this.#now();
    const grants = await this.#store.listGrants({
      agentId,
      tool: call.tool,
      liveAt: now,
      limit: maxGrantsChecked,
    });
    if (grants.length === 0) return null;
    const actionHash = computeActionHash({ tool: call.tool, arguments: call.arguments });
    for (const grant of grants) {
      if (!isGrantLive(grant, now) || !isSameGate(grant.gate, call.gate)) continue;
      if (call.reaches && !call.reaches.includes(grant.reach)) continue;
      if (
        !grantAllows(grant, {
          tool: call.tool,
          args: call.arguments,
          actionHash,
          sessionId: call.sessionId,
        })
      )
        continue;
      if (!(await this.#isSignedAsStored(grant))) continue;
      const used = await this.#store.useGrant(grant.id, now, {
        type: 'grant.used',
        requestId: grant.pauseId,
        actor: `agent:${agentId}`,
        data: { grant_id: grant.id, tool: call.tool, action_hash: actionHash },
      });
      if (used) return { ...grant, uses: grant.uses + 1 };
    }
    return null;
  }

  async #isSignedAsStored(grant: GrantRecord): Promise<boolean> {
    if (this.#verified.has(grant.receipt)) return true;
    const verified = await verifyGrant(grant.receipt, this.#jwks);
    const expected = canonicalizeJson(buildGrantPayload(grant));
    if (!verified.ok || canonicalizeJson(verified.value.payload) !== expected) {
      await this.#store.appendAudit(
        {
          type: 'grant.receipt_invalid',
          requestId: grant.pauseId,
          actor: 'system',
          data: { grant_id: grant.id, reason: verified.ok ? 'mismatch' : verified.code },
        },
        this.#now(),
      );
      return false;
    }
    this.#verified.add(grant.receipt);
    return true;
  }

  /** Grants, newest first; with `live`, only those that can serve a call now. */
  list(query: Omit<GrantQuery, 'liveAt'> & { live?: boolean }): Promise<GrantRecord[]> {
    const { live, ...rest } = query;
    return this.#store.listGrants({ ...rest, ...(live ? { liveAt: this.#now() } : {}) });
  }

  /**
   * The grant with this id.
   * @throws LoopgateError E_GRANT_NOT_FOUND
   */
  async get(id: string): Promise<GrantRecord> {
    const grant = await this.#store.getGrant(id);
    if (!grant)
      throw new LoopgateError(
        'E_GRANT_NOT_FOUND',
        `No standing grant has id "${id}"; see \`loopgate grants list\`.`,
      );
    return grant;
  }

  /**
   * Revokes a grant: from the next call on it forwards nothing. Revoking a revoked grant
   * changes nothing.
   * @throws LoopgateError E_GRANT_NOT_FOUND
   */
  async revoke(id: string, actor: string): Promise<GrantRecord> {
    const grant = await this.get(id);
    const now = this.#now();
    await this.#store.revokeGrant(id, actor, now, {
      type: 'grant.revoked',
      requestId: grant.pauseId,
      actor,
      data: { grant_id: id },
    });
    return this.get(id);
  }

  /** The public view of a grant now. */
  view(grant: GrantRecord): GrantView {
    return toGrantView(grant, this.#now());
  }
}
