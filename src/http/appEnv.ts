import type { Logger } from 'pino';
import type { AgentKeyScope, OperatorRecord, SessionRecord } from '../core/records.js';

/** Who is calling: an agent (bearer key) or a signed-in operator (`X-Loopgate-Session` header or an event ticket). */
export type Principal =
  | { kind: 'agent'; agentId: string; keyId: string; scope: AgentKeyScope }
  | { kind: 'operator'; operator: OperatorRecord; session: SessionRecord };

/** Hono environment: per-request variables set by the middleware. */
export interface AppEnv {
  Variables: {
    requestId: string;
    log: Logger;
    principal: Principal | null;
  };
}
