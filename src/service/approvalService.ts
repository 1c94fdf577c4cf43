import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  approveGate,
  type ActionDetails,
  approvalLimits,
  effectiveStatus,
  isSameGate,
  requiredStepUp,
  type ApprovalRecord,
  type Decision,
  type DecisionChannel,
  type ApprovalResponse,
  type FieldSpec,
  type FieldValues,
  type GateSpec,
} from '../core/approval.js';
import {
  singleProcessChangeFeed,
  type ApprovalChangeType,
  type ChangeFeed,
  type ChangeNotice,
} from '../core/changeFeed.js';
import { maxWaitSeconds } from '../core/longPoll.js';
import { computeActionHash } from '../core/actionHash.js';
import { checkToolCallLimits } from '../core/toolCallLimits.js';
import type { ApprovalInput } from '../core/approvalInput.js';
import { toApprovalView, type ApprovalView } from '../core/approvalView.js';
import { LoopgateError } from '../core/errors.js';
import { createId } from '../core/ids.js';
import { signReceipt, verifyReceipt, type ReceiptPayload } from '../crypto/receipt.js';
import { computeResponseSignature } from '../crypto/responseHmac.js';
import { buildJwks, type Jwks, type ReceiptSigningKey } from '../crypto/signingKeys.js';
import { evaluateQuorum } from '../gates/quorum.js';
import type { ApprovalQuery, Store } from '../store/store.js';
import type { EditConstraints } from '../core/approvalEdit.js';
import {
  checkApprovalEdit,
  type ApprovalEditCheck,
  type ToolArgumentsValidator,
} from './checkApprovalEdit.js';
import type { RecipientPolicy } from './recipientPolicy.js';
import {
  mustVoidRequest,
  type StepUpInput,
  type TotpStepUp,
  type WebAuthnStepUpVerifier,
} from './stepUp.js';

/** What the approval service needs. `now` returns milliseconds since the Unix epoch. */
export interface ApprovalServiceDeps {
  store: Store;
  receiptKey: ReceiptSigningKey;
  signingSecret: string;
  /** Base URL humans open, e.g. `http://127.0.0.1:7878`; approval_url is built from it. */
  publicUrl: string;
  /** Checks authenticator codes for `totp` gates; without it such requests cannot be approved. */
  totp?: TotpStepUp;
  /** Checks passkey assertions for `webauthn` gates. */
  webauthn?: WebAuthnStepUpVerifier;
  /** Who requests may name as `recipient_email` / `recipient_slack`; without it, anyone. */
  recipientPolicy?: RecipientPolicy;
  /**
   * How this server hears about changes other servers of the deployment stored (PostgreSQL's
   * LISTEN/NOTIFY); default {@link singleProcessChangeFeed}, for a store only this process uses.
   */
  changeFeed?: ChangeFeed;
  /**
   * With a shared feed: how often the requests someone on this server waits for are read again,
   * in ms, so a lost notice only delays a wake-up (`--wait-recheck-seconds`). Default 2 000.
   */
  recheckIntervalMs?: number;
  /**
   * Checks a gated call's edited arguments against the wrapped tool's input schema; without it
   * no edit is accepted (E_APPROVAL_EDIT_INVALID).
   */
  validateToolArguments?: ToolArgumentsValidator;
  now?: () => number;
}

/** How a request is gated when something other than a plain request_approval makes it. */
export interface CreateApprovalOptions {
  gate?: GateSpec;
  /** The gated tool, for requests the gateway makes. */
  toolName?: string;
  /** Overrides `timeout_hours`. */
  timeoutMs?: number;
  /** The details to store instead of `action_details` (a gated call's arguments, any JSON). */
  actionDetails?: ActionDetails;
  /** What edited arguments are checked against (gated calls; see core/approvalEdit.ts). */
  editConstraints?: EditConstraints;
}

/** A human's decision as the HTTP layer (or a channel) hands it over. */
export interface DecisionInput {
  decision: Decision;
  comment?: string;
  fields?: Record<string, unknown>;
  responder: string;
  /** The deciding operator's id; needed for step-ups. */
  operatorId?: string;
  channel: DecisionChannel;
  /** The authenticator code or passkey assertion the gate asks for. */
  stepUp?: StepUpInput;
  /**
   * Edited arguments of a gated call, approved instead of those asked (approvals only): checked
   * by {@link checkApprovalEdit}; the receipt then binds the edited call's action hash.
   */
  arguments?: Record<string, unknown>;
}

/**
 * Emitted on every state change of a request. `local` changes were stored by this server;
 * `remote` ones by another server of the deployment (`record` is then as read from the store
 * after the change feed's notice, or as found by the periodic re-read).
 */
export interface ApprovalChange {
  type: ApprovalChangeType;
  record: ApprovalRecord;
  origin: 'local' | 'remote';
}

/**
 * The approvals use cases: create, read, decide (once), cancel, time out, and wait for the
 * decision. Waiters are woken by an in-process event the moment a decision is stored — no
 * polling. Every transition is a compare-and-set in the store; the loser gets
 * E_APPROVAL_ALREADY_DECIDED or E_APPROVAL_EXPIRED.
 *
 * With several servers on one database, each change this server stores is published on the
 * change feed; a notice from another server makes this one read the request again (the store
 * is the truth) and wake its waiters and live pages. A shared feed is only a hint: while anyone
 * waits here, the awaited requests are also read again every `recheckIntervalMs`.
 */
export class ApprovalService {
  readonly #store: Store;
  readonly #receiptKey: ReceiptSigningKey;
  readonly #signingSecret: string;
  readonly #publicUrl: string;
  readonly #now: () => number;
  readonly #totp: TotpStepUp | undefined;
  readonly #webauthn: WebAuthnStepUpVerifier | undefined;
  readonly #recipientPolicy: RecipientPolicy | undefined;
  readonly #validateToolArguments: ToolArgumentsValidator | undefined;
  readonly #jwks: Jwks;
  readonly #events = new EventEmitter();
  readonly #waiters = new Map<string, Set<(record: ApprovalRecord) => void>>();
  readonly #feed: ChangeFeed;
  readonly #recheckIntervalMs: number;
  readonly #unsubscribeFeed: () => void;
  #sweeper: NodeJS.Timeout | undefined;
  #recheckTimer: NodeJS.Timeout | undefined;
  #rechecking: Promise<void> | undefined;

  constructor(deps: ApprovalServiceDeps) {
    this.#store = deps.store;
    this.#receiptKey = deps.receiptKey;
    this.#signingSecret = deps.signingSecret;
    this.#publicUrl = deps.publicUrl;
    this.#now = deps.now ?? Date.now;
    this.#totp = deps.totp;
    this.#webauthn = deps.webauthn;
    this.#recipientPolicy = deps.recipientPolicy;
    this.#validateToolArguments = deps.validateToolArguments;
    this.#jwks = buildJwks([deps.receiptKey]);
    this.#events.setMaxListeners(0);
    this.#feed = deps.changeFeed ?? singleProcessChangeFeed;
    this.#recheckIntervalMs = deps.recheckIntervalMs ?? 2_000;
    const offChange = this.#feed.onRemoteChange((notice) => void this.#onRemoteChange(notice));
    const offGap = this.#feed.onGap(() => void this.#recheckWaits());
    this.#unsubscribeFeed = () => {
      offChange();
      offGap();
    };
  }

  /** The base URL approval links point at. */
  get publicUrl(): string {
    return this.#publicUrl;
  }

  /** The public view of a record at this moment. */
  view(record: ApprovalRecord): ApprovalView {
    return toApprovalView(record, this.#publicUrl, this.#now());
  }

  /** How many waitForDecision calls are blocked right now (all requests). */
  get activeWaits(): number {
    let n = 0;
    for (const set of this.#waiters.values()) n += set.size;
    return n;
  }

  /**
   * Calls `listener` on every change, this server's and (with a shared change feed) the other
   * servers'; for live pages. Returns the function that stops it.
   */
  subscribe(listener: (change: ApprovalChange) => void): () => void {
    this.#events.on('change', listener);
    return () => this.#events.off('change', listener);
  }

  /**
   * Calls `listener` only on changes this server stored, so work done once per change (mail,
   * Slack, webhooks) is done by one server of the deployment. Returns the function that stops it.
   */
  subscribeLocal(listener: (change: ApprovalChange) => void): () => void {
    this.#events.on('local', listener);
    return () => this.#events.off('local', listener);
  }

  /**
   * Creates a pending request for `agentId`. `actionHash` defaults to the SHA-256 of the JCS
   * form of `{action_description, action_details}`; a gateway passes the hash of `{tool, arguments}`.
   * @throws LoopgateError E_APPROVAL_RECIPIENT_NOT_ALLOWED (the recipient policy), before
   *   anything is stored
   */
  async createApproval(
    input: ApprovalInput,
    agentId: string,
    actionHash?: string,
    options: CreateApprovalOptions = {},
  ): Promise<ApprovalRecord> {
    await this.#recipientPolicy?.assertAllowed(input);
    const now = this.#now();
    const hours = input.timeout_hours ?? approvalLimits.defaultTimeoutHours;
    const timeoutMs = options.timeoutMs ?? Math.round(hours * 3_600_000);
    const record: ApprovalRecord = {
      id: createId('pa'),
      agentId,
      status: 'pending',
      actionDescription: input.action_description,
      actionDetails: options.actionDetails ?? input.action_details,
      fields: input.fields ?? [],
      recipientEmail: input.recipient_email ?? null,
      recipientSlack: input.recipient_slack ?? null,
      actionHash:
        actionHash ??
        computeActionHash({
          action_description: input.action_description,
          action_details: input.action_details,
        }),
      createdAt: now,
      expiresAt: now + timeoutMs,
      updatedAt: now,
      response: null,
      receipt: null,
      gate: options.gate ?? approveGate,
      toolName: options.toolName ?? null,
      consumedAt: null,
      votes: [],
      ...(options.editConstraints ? { editConstraints: options.editConstraints } : {}),
    };
    await this.#store.createApproval(record, {
      type: 'approval.created',
      requestId: record.id,
      actor: `agent:${agentId}`,
      data: {
        action_hash: record.actionHash,
        expires_at: record.expiresAt,
        gate: record.gate,
        tool: record.toolName,
      },
    });
    this.#emit({ type: 'created', record });
    return record;
  }

  /**
   * The request with this id; a pending one past its expiry is marked timed_out first.
   * @throws LoopgateError E_APPROVAL_NOT_FOUND
   */
  async getApproval(id: string): Promise<ApprovalRecord> {
    const record = await this.#store.getApproval(id);
    if (!record) {
      throw new LoopgateError(
        'E_APPROVAL_NOT_FOUND',
        `No approval request has pause_id "${id}". Check the id returned by request_approval.`,
      );
    }
    if (record.status === 'pending' && effectiveStatus(record, this.#now()) === 'timed_out') {
      await this.expireDue();
      return (await this.#store.getApproval(id)) ?? record;
    }
    return record;
  }

  /** Requests newest first. */
  listApprovals(query: ApprovalQuery): Promise<ApprovalRecord[]> {
    return this.#store.listApprovals(query);
  }

  /**
   * Records a human's decision. The request's gate decides what counts: an approval under a
   * `totp` or `webauthn` gate (or a quorum with that step-up) must carry the second factor;
   * a quorum request records the vote and is decided once `n` approvers agreed or one
   * rejected. The final decision is signed into a receipt; exactly one decision wins.
   * @throws LoopgateError E_APPROVAL_NOT_FOUND, E_DECISION_INVALID, E_APPROVAL_EXPIRED,
   *   E_APPROVAL_ALREADY_DECIDED, E_QUORUM_NOT_APPROVER, E_QUORUM_ALREADY_VOTED,
   *   E_STEP_UP_REQUIRED, the TOTP and WebAuthn refusals
   */
  async decide(id: string, input: DecisionInput): Promise<ApprovalRecord> {
    const record = await this.getApproval(id);
    this.#assertDecidable(record);
    const comment = input.comment ?? '';
    if (comment.length > approvalLimits.maxCommentLength) {
      throw new LoopgateError(
        'E_DECISION_INVALID',
        `The comment is ${comment.length} characters; at most ${approvalLimits.maxCommentLength} are allowed.`,
      );
    }
    const fields = validateFieldValues(record.fields, input.fields ?? {}, input.decision);
    if (input.arguments !== undefined && input.decision !== 'approved') {
      throw new LoopgateError(
        'E_APPROVAL_EDIT_INVALID',
        'Edited arguments come only with an approval; a rejection rejects the call as asked. Nothing was decided.',
      );
    }
    // Checked before the second factor, so a refused edit does not use up a code.
    const edited =
      input.arguments === undefined
        ? null
        : await checkApprovalEdit(record, input.arguments, this.#validateToolArguments);
    const quorum = record.gate.type === 'quorum' ? record.gate.quorum : undefined;
    if (quorum) {
      if (!quorum.approvers.includes(input.responder)) {
        throw new LoopgateError(
          'E_QUORUM_NOT_APPROVER',
          `${input.responder} is not an approver of this request; it needs ${quorum.n} of ${quorum.approvers.join(', ')}.`,
        );
      }
      if (record.votes.some((vote) => vote.operator === input.responder)) {
        throw new LoopgateError(
          'E_QUORUM_ALREADY_VOTED',
          `${input.responder} has already voted on this request; it needs another approver.`,
        );
      }
    }
    // Rejecting is always safe; only an approval needs the second factor.
    if (input.decision === 'approved') await this.#checkStepUp(record, input);
    if (!quorum)
      return this.#finalize(record, {
        decision: input.decision,
        comment,
        fields,
        responder: input.responder,
        channel: input.channel,
        ...(edited ? { edited } : {}),
      });

    const now = this.#now();
    const updated = await this.#store.addQuorumVote(
      id,
      { operator: input.responder, decision: input.decision, comment, at: now },
      now,
      {
        type: 'approval.vote',
        requestId: id,
        actor: `operator:${input.responder}`,
        data: { decision: input.decision, channel: input.channel },
      },
    );
    if (!updated) {
      this.#assertDecidable(await this.getApproval(id));
      throw new LoopgateError(
        'E_APPROVAL_ALREADY_DECIDED',
        `Request ${id} was decided while this vote was being recorded.`,
      );
    }
    const tally = evaluateQuorum(quorum, updated.votes);
    if (!tally.ok) throw new LoopgateError(tally.code, tally.message);
    if (tally.value.state === 'pending') {
      this.#emit({ type: 'voted', record: updated });
      return updated;
    }
    const remarks = updated.votes
      .filter((v) => v.comment)
      .map((v) => `${v.operator}: ${v.comment}`);
    return this.#finalize(updated, {
      decision: tally.value.state,
      comment: remarks.join('\n'),
      fields,
      responder: input.responder,
      channel: input.channel,
      ...(tally.value.state === 'approved' ? { approvers: tally.value.approvedBy } : {}),
    });
  }

  /**
   * The approval a gated tool call needs: the pending one for exactly this `{tool, arguments}`
   * under the same gate when the agent already asked (a retry before the human decided), else a
   * new one. The server computes the action hash itself, so a decision binds the call the
   * gateway saw; a pending request under another gate is never reused. The request's details are
   * the arguments exactly as sent, so the human is shown every argument in full; a call too
   * large for that is refused before any approval exists.
   * @throws LoopgateError E_GATEWAY_CALL_TOO_LARGE (over core/toolCallLimits),
   *   E_APPROVAL_INPUT_INVALID (arguments not representable as JSON)
   */
  async requestToolApproval(
    agentId: string,
    call: {
      tool: string;
      arguments: Record<string, unknown>;
      gate: GateSpec;
      timeoutMs: number;
      description?: string;
      editConstraints?: EditConstraints;
    },
  ): Promise<ApprovalRecord> {
    const limited = checkToolCallLimits(call);
    if (!limited.ok) throw new LoopgateError(limited.code, limited.message);
    const actionHash = computeActionHash({ tool: call.tool, arguments: call.arguments });
    const pending = await this.#store.findPendingApproval(
      agentId,
      actionHash,
      call.gate,
      this.#now(),
    );
    if (pending) return pending;
    // Canonical JSON holds only JSON values, so the arguments are ActionDetails as they are.
    const details = call.arguments as ActionDetails;
    const description = call.description
      ? `Run ${call.tool}: ${call.description}`
      : `Run the tool ${call.tool} with these arguments`;
    return this.createApproval(
      {
        action_description: description.slice(0, approvalLimits.maxDescriptionLength),
        action_details: {},
      },
      agentId,
      actionHash,
      {
        gate: call.gate,
        toolName: call.tool,
        timeoutMs: call.timeoutMs,
        actionDetails: details,
        ...(call.editConstraints ? { editConstraints: call.editConstraints } : {}),
      },
    );
  }

  /**
   * Uses an approved decision for exactly `actionHash` made under exactly `gate` (the gate the
   * gateway's policy names) once: finds it, checks its receipt (signature, action hash, decision
   * and signed gate) against this server's key, and marks it consumed. Null when there is none
   * to use (never approved, rejected, expired, already used, or decided under another gate).
   */
  async consumeApproval(
    agentId: string,
    actionHash: string,
    gate: GateSpec,
  ): Promise<ApprovalRecord | null> {
    const now = this.#now();
    const record = await this.#store.findConsumableApproval(agentId, actionHash, gate, now);
    if (!record?.receipt) return null;
    const verified = await verifyReceipt(record.receipt, this.#jwks);
    const signed = verified.ok ? verified.value.payload : null;
    if (
      !signed ||
      signed.action_hash !== actionHash ||
      signed.decision !== 'approved' ||
      !signed.gate ||
      !isSameGate(signed.gate, gate)
    ) {
      await this.#store.appendAudit(
        {
          type: 'gateway.receipt_invalid',
          requestId: record.id,
          actor: 'system',
          data: { reason: verified.ok ? 'mismatch' : verified.code },
        },
        now,
      );
      return null;
    }
    const won = await this.#store.consumeApproval(record.id, now, {
      type: 'approval.consumed',
      requestId: record.id,
      actor: `agent:${agentId}`,
      data: { action_hash: actionHash, tool: record.toolName, gate: record.gate },
    });
    if (!won) return null;
    const consumed = { ...record, consumedAt: now };
    this.#emit({ type: 'consumed', record: consumed });
    return consumed;
  }

  async #checkStepUp(record: ApprovalRecord, input: DecisionInput): Promise<void> {
    const stepUp = requiredStepUp(record.gate);
    if (stepUp === 'none') return;
    if (!input.operatorId) {
      throw new LoopgateError(
        'E_STEP_UP_REQUIRED',
        'This request needs a second factor; approve it from its approval page while signed in.',
      );
    }
    const operator = { id: input.operatorId, name: input.responder };
    if (stepUp === 'totp') {
      if (!this.#totp)
        throw new LoopgateError(
          'E_STEP_UP_UNAVAILABLE',
          'This server cannot check authenticator codes.',
        );
      if (!input.stepUp?.totpCode) {
        throw new LoopgateError(
          'E_STEP_UP_REQUIRED',
          'This request needs the 6-digit code from your authenticator app in the Authenticator code field.',
        );
      }
      try {
        await this.#totp.verify(operator, input.stepUp.totpCode, record.id);
      } catch (err) {
        if (mustVoidRequest(err))
          await this.#void(record, operator.name, (err as LoopgateError).code);
        throw err;
      }
      return;
    }
    if (!this.#webauthn)
      throw new LoopgateError('E_STEP_UP_UNAVAILABLE', 'This server cannot check passkeys.');
    if (input.stepUp?.webauthn === undefined) {
      throw new LoopgateError(
        'E_STEP_UP_REQUIRED',
        'This request needs your passkey: approve it from its approval page and confirm with the passkey.',
      );
    }
    await this.#webauthn.verifyAssertion({
      operatorId: operator.id,
      requestId: record.id,
      response: input.stepUp.webauthn,
      now: this.#now(),
    });
  }

  async #void(record: ApprovalRecord, operator: string, reason: string): Promise<void> {
    const won = await this.#store.cancelApproval(record.id, this.#now(), {
      type: 'approval.voided',
      requestId: record.id,
      actor: `operator:${operator}`,
      data: { reason },
    });
    if (won) {
      const latest = await this.#store.getApproval(record.id);
      if (latest) this.#emit({ type: 'voided', record: latest });
    }
  }

  async #finalize(
    record: ApprovalRecord,
    decision: {
      decision: Decision;
      comment: string;
      fields: FieldValues;
      responder: string;
      channel: DecisionChannel;
      approvers?: string[];
      edited?: ApprovalEditCheck;
    },
  ): Promise<ApprovalRecord> {
    const id = record.id;
    const now = this.#now();
    // pause_id and action_hash sit inside the HMAC'd response so that one request's response and
    // signature cannot be presented as another's to a verifier that checks only the HMAC.
    const edited = decision.edited;
    const unsigned = {
      pause_id: record.id,
      action_hash: edited ? edited.actionHash : record.actionHash,
      decision: decision.decision,
      comment: decision.comment,
      fields: decision.fields,
      responder: decision.responder,
      responded_at: new Date(now).toISOString(),
      channel: decision.channel,
      nonce: randomBytes(16).toString('hex'),
      ...(decision.approvers ? { approvers: decision.approvers } : {}),
    };
    const signature = computeResponseSignature(unsigned, this.#signingSecret);
    const payload: ReceiptPayload = {
      ...unsigned,
      expires_at: new Date(record.expiresAt).toISOString(),
      gate:
        record.gate.type === 'quorum' && record.gate.quorum
          ? { type: 'quorum', quorum: record.gate.quorum }
          : { type: record.gate.type },
      ...(edited ? { original_action_hash: edited.edit.originalActionHash } : {}),
    };
    const receipt = await signReceipt(payload, this.#receiptKey);
    const response: ApprovalResponse = {
      pauseId: unsigned.pause_id,
      actionHash: unsigned.action_hash,
      decision: unsigned.decision,
      comment: unsigned.comment,
      fields: unsigned.fields,
      responder: unsigned.responder,
      respondedAt: now,
      channel: unsigned.channel,
      nonce: unsigned.nonce,
      signature,
      ...(decision.approvers ? { approvers: decision.approvers } : {}),
    };
    const edits = edited
      ? {
          actionHash: edited.actionHash,
          actionDetails: edited.actionDetails as ActionDetails,
          edit: edited.edit,
        }
      : null;
    const won = await this.#store.recordDecision(
      id,
      {
        response,
        receipt,
        now,
        ...(edits ? { edited: edits } : {}),
      },
      {
        type: 'approval.decided',
        requestId: id,
        actor: `operator:${decision.responder}`,
        data: {
          decision: decision.decision,
          channel: decision.channel,
          nonce: unsigned.nonce,
          ...(decision.approvers ? { approvers: decision.approvers } : {}),
          ...(edited
            ? {
                action_hash: edited.actionHash,
                original_action_hash: edited.edit.originalActionHash,
                edited_paths: edited.edit.changes.map((c) => c.path),
              }
            : {}),
        },
      },
    );
    // The one winner knows the stored row already (no re-read); everyone else reads who won.
    const latest: ApprovalRecord = won
      ? { ...record, status: 'responded', response, receipt, updatedAt: now, ...edits }
      : await this.getApproval(id);
    if (!won) this.#assertDecidable(latest);
    if (!won || latest.status !== 'responded') {
      throw new LoopgateError(
        'E_APPROVAL_ALREADY_DECIDED',
        `Request ${id} was decided by someone else first.`,
      );
    }
    this.#emit({ type: 'decided', record: latest });
    return latest;
  }

  /**
   * Cancels a pending request (status `expired`).
   * @throws LoopgateError E_APPROVAL_NOT_FOUND, E_APPROVAL_ALREADY_DECIDED, E_APPROVAL_EXPIRED
   */
  async cancel(id: string, actor: string): Promise<ApprovalRecord> {
    const record = await this.getApproval(id);
    this.#assertDecidable(record);
    const won = await this.#store.cancelApproval(id, this.#now(), {
      type: 'approval.cancelled',
      requestId: id,
      actor,
      data: {},
    });
    const latest = await this.getApproval(id);
    if (!won) this.#assertDecidable(latest);
    this.#emit({ type: 'cancelled', record: latest });
    return latest;
  }

  /** Marks every request past its expiry as timed_out and tells waiters. */
  async expireDue(): Promise<void> {
    const ids = await this.#store.expireDueApprovals(this.#now());
    for (const id of ids) {
      const record = await this.#store.getApproval(id);
      if (record) this.#emit({ type: 'timed_out', record });
    }
  }

  /**
   * Resolves with the request the moment it is no longer pending, or as it is after
   * `maxWaitMs` (capped at 50 s), or when `signal` aborts. Never throws for a timeout.
   * `onTick` is called about every `tickMs` while waiting (for progress notifications).
   * `authorize` sees the request as first read, before any waiting, and may throw to refuse
   * the caller (so a caller's access check needs no read of its own).
   * @throws LoopgateError E_APPROVAL_NOT_FOUND, and whatever `authorize` throws
   */
  async waitForDecision(
    id: string,
    options: {
      maxWaitMs: number;
      signal?: AbortSignal;
      onTick?: (elapsedMs: number) => void;
      tickMs?: number;
      authorize?: (record: ApprovalRecord) => void;
    },
  ): Promise<ApprovalRecord> {
    // Listen before reading: a change stored between the read and the listening (on this
    // server or, through the change feed, on another) must still wake this wait.
    let waiters = this.#waiters.get(id);
    if (!waiters) this.#waiters.set(id, (waiters = new Set()));
    let woken: ApprovalRecord | null = null;
    let onChange: (record: ApprovalRecord) => void = (record) => (woken = record);
    waiters.add(onChange);
    this.#startRechecks();
    const stopListening = () => {
      waiters.delete(onChange);
      if (waiters.size === 0 && this.#waiters.get(id) === waiters) this.#waiters.delete(id);
      if (this.#waiters.size === 0) this.#stopRechecks();
    };
    try {
      const initial = await this.getApproval(id);
      options.authorize?.(initial);
      if (initial.status !== 'pending' || options.signal?.aborted) return initial;
      if (woken) return woken;
      const maxWaitMs = Math.max(0, Math.min(options.maxWaitMs, maxWaitSeconds * 1_000));
      const untilExpiry = Math.max(0, initial.expiresAt - this.#now());
      const started = this.#now();
      const decided = await new Promise<ApprovalRecord | null>((resolve) => {
        const timers: NodeJS.Timeout[] = [];
        const finish = (value: ApprovalRecord | null) => {
          for (const t of timers) clearTimeout(t);
          options.signal?.removeEventListener('abort', onAbort);
          resolve(value);
        };
        const onAbort = () => finish(null);
        waiters.delete(onChange);
        onChange = (record) => finish(record);
        waiters.add(onChange);
        options.signal?.addEventListener('abort', onAbort, { once: true });
        timers.push(setTimeout(() => finish(null), Math.min(maxWaitMs, untilExpiry + 5)));
        if (options.onTick) {
          const tick = options.onTick;
          timers.push(setInterval(() => tick(this.#now() - started), options.tickMs ?? 5_000));
        }
      });
      return decided ?? (await this.getApproval(id));
    } finally {
      stopListening();
    }
  }

  /** Starts the once-a-second sweep that marks expired requests timed_out. */
  startExpirySweeper(intervalMs = 1_000): void {
    if (this.#sweeper) return;
    this.#sweeper = setInterval(() => {
      this.expireDue().catch(() => undefined);
    }, intervalMs);
    this.#sweeper.unref();
  }

  /** Stops the sweep and stops listening to the change feed. */
  stop(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    this.#stopRechecks();
    this.#unsubscribeFeed();
  }

  /**
   * Reads again every request someone on this server waits for and wakes the waiters of those
   * no longer pending (told to live pages as remote changes): the floor under the change feed.
   * Concurrent calls share one run. Runs every `recheckIntervalMs` while anyone waits and the
   * feed is shared, and at once when the feed reports a gap.
   */
  #recheckWaits(): Promise<void> {
    this.#rechecking ??= (async () => {
      try {
        for (const id of [...this.#waiters.keys()]) {
          const record = await this.#store.getApproval(id);
          if (!record || record.status === 'pending' || !this.#waiters.has(id)) continue;
          this.#deliver({ type: changeTypeOf(record), record, origin: 'remote' });
        }
      } catch {
        // The next recheck tries again; a waiter's own timer bounds the wait meanwhile.
      } finally {
        this.#rechecking = undefined;
      }
    })();
    return this.#rechecking;
  }

  #startRechecks(): void {
    if (this.#recheckTimer || !this.#feed.shared) return;
    this.#recheckTimer = setInterval(() => void this.#recheckWaits(), this.#recheckIntervalMs);
    this.#recheckTimer.unref();
  }

  #stopRechecks(): void {
    if (this.#recheckTimer) clearInterval(this.#recheckTimer);
    this.#recheckTimer = undefined;
  }

  async #onRemoteChange(notice: ChangeNotice): Promise<void> {
    // Nobody here waits for it or watches a live page: nothing to read.
    if (!this.#waiters.has(notice.id) && this.#events.listenerCount('change') === 0) return;
    let record: ApprovalRecord | null;
    try {
      record = await this.#store.getApproval(notice.id);
    } catch {
      return; // the recheck floor finds it
    }
    if (record) this.#deliver({ type: notice.type, record, origin: 'remote' });
  }

  #assertDecidable(record: ApprovalRecord): void {
    const status = effectiveStatus(record, this.#now());
    if (status === 'timed_out') {
      throw new LoopgateError(
        'E_APPROVAL_EXPIRED',
        `Request ${record.id} timed out at ${new Date(record.expiresAt).toISOString()}; nothing can be decided any more.`,
      );
    }
    if (status !== 'pending') {
      const what =
        status === 'responded'
          ? `was already ${record.response?.decision ?? 'decided'} by ${record.response?.responder ?? 'someone'}`
          : 'was cancelled';
      throw new LoopgateError(
        'E_APPROVAL_ALREADY_DECIDED',
        `Request ${record.id} ${what}; one decision wins.`,
      );
    }
  }

  /** A change this server stored: told here, and published to the other servers. */
  #emit(change: Omit<ApprovalChange, 'origin'>): void {
    this.#deliver({ ...change, origin: 'local' });
    this.#feed.publish({ type: change.type, id: change.record.id });
  }

  #deliver(change: ApprovalChange): void {
    if (change.origin === 'local') this.#events.emit('local', change);
    this.#events.emit('change', change);
    if (change.record.status !== 'pending') {
      for (const wake of [...(this.#waiters.get(change.record.id) ?? [])]) wake(change.record);
    }
  }
}

/** The change a request's final status stands for, when a recheck finds it decided. */
function changeTypeOf(record: ApprovalRecord): ApprovalChangeType {
  if (record.status === 'responded') return 'decided';
  if (record.status === 'timed_out') return 'timed_out';
  return 'cancelled';
}

/**
 * Checks the values a human filled in against the request's field specs. A rejection may leave
 * required fields empty; an approval may not. Unknown names and wrong types are refused.
 * @throws LoopgateError E_DECISION_INVALID naming the field and what was expected
 */
export function validateFieldValues(
  specs: readonly FieldSpec[],
  values: Record<string, unknown>,
  decision: Decision,
): FieldValues {
  const out: FieldValues = {};
  const known = new Set(specs.map((s) => s.name));
  for (const name of Object.keys(values)) {
    if (!known.has(name)) {
      throw new LoopgateError(
        'E_DECISION_INVALID',
        `Unknown field "${name}"; this request asks for: ${[...known].join(', ') || 'no fields'}.`,
      );
    }
  }
  for (const spec of specs) {
    const value = values[spec.name];
    if (value === undefined || value === null || value === '') {
      if (spec.required && decision === 'approved') {
        throw new LoopgateError(
          'E_DECISION_INVALID',
          `Field "${spec.label}" (${spec.name}) is required to approve.`,
        );
      }
      continue;
    }
    if (typeof value !== spec.type || (spec.type === 'number' && !Number.isFinite(value))) {
      throw new LoopgateError(
        'E_DECISION_INVALID',
        `Field "${spec.name}" must be a ${spec.type}; got ${JSON.stringify(value)}.`,
      );
    }
    if (typeof value === 'string' && value.length > approvalLimits.maxDetailValueLength) {
      throw new LoopgateError(
        'E_DECISION_INVALID',
        `Field "${spec.name}" is longer than ${approvalLimits.maxDetailValueLength} characters.`,
      );
    }
    out[spec.name] = value as string | number | boolean;
  }
  return out;
}
