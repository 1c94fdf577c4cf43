import { LoopgateError } from '../core/errors.js';
import type { Jwks } from '../crypto/signingKeys.js';
import type { ApprovalService } from '../service/approvalService.js';
import type { ApprovalsClient } from './approvalsClient.js';
import type { RequestStateSealer } from './requestState.js';
import type { TaskLedger } from './taskLedger.js';

/**
 * An {@link ApprovalsClient} that calls the approval service in the same process, acting as
 * agent `agentId` (it reads and cancels only that agent's requests).
 */
export function createLocalApprovalsClient(options: {
  service: ApprovalService;
  agentId: string;
  jwks: () => Jwks;
  signingSecret?: string;
  /** Seals `requestState` for input-required results (bound to `agentId`). */
  requestState?: RequestStateSealer;
  /** Task ids of the 2026-07-28 tasks extension (bound to `agentId`). */
  tasks?: TaskLedger;
}): ApprovalsClient {
  const { service, agentId } = options;
  const own = async (pauseId: string) => {
    const record = await service.getApproval(pauseId);
    if (record.agentId !== agentId) {
      throw new LoopgateError(
        'E_APPROVAL_NOT_FOUND',
        `No approval request has pause_id "${pauseId}".`,
      );
    }
    return record;
  };
  return {
    async createApproval(input) {
      return service.view(await service.createApproval(input, agentId));
    },
    async getApproval(pauseId) {
      return service.view(await own(pauseId));
    },
    async waitForApproval(pauseId, seconds, signal) {
      await own(pauseId);
      const record = await service.waitForDecision(pauseId, {
        maxWaitMs: seconds * 1_000,
        ...(signal ? { signal } : {}),
      });
      return service.view(record);
    },
    async cancelApproval(pauseId) {
      await own(pauseId);
      return service.view(await service.cancel(pauseId, `agent:${agentId}`));
    },
    async getJwks() {
      return options.jwks();
    },
    ...(options.signingSecret ? { signingSecret: options.signingSecret } : {}),
    ...(options.requestState ? { requestState: options.requestState } : {}),
    ...(options.tasks ? { tasks: options.tasks } : {}),
  };
}
