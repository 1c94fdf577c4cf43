import { LoopgateError } from '../../src/core/errors.js';
import type { HandoffView } from '../../src/handoff/handoffView.js';
import type { HandoffAgent } from '../../src/mcp/handoffAgent.js';
import { testOrigin } from './appHarness.js';

/**
 * A handoff agent with one session, `ho_1`, that changes only when the test says so (`set`):
 * `start` starts it, `get` and `waitForChange` read it (another id is E_HANDOFF_NOT_FOUND),
 * `sessionUrl` and `viewerState` describe it, `cancel` cancels it and is recorded in
 * `cancelled`.
 */
export function scriptedHandoff() {
  const sessionUrl = `${testOrigin}/handoff/ho_1#k=secret`;
  let status: HandoffView['status'] = 'pending';
  let viewer = false;
  let changed: (() => void) | undefined;
  const cancelled: string[] = [];
  const view = (): HandoffView => ({
    session_id: 'ho_1',
    agent_id: 'claude',
    service: 'Acme Bank',
    status,
    viewer_connected: viewer,
    created_at: new Date().toISOString(),
    expires_at: new Date(Date.now() + 600_000).toISOString(),
  });
  const known = (id: string) =>
    id === 'ho_1'
      ? Promise.resolve()
      : Promise.reject(new LoopgateError('E_HANDOFF_NOT_FOUND', `No handoff "${id}".`));
  const handoff = {
    start: () =>
      Promise.resolve({
        session_id: 'ho_1',
        session_url: sessionUrl,
        expires_at: view().expires_at,
      }),
    get: (id: string) => known(id).then(view),
    sessionUrl: (id: string) => (id === 'ho_1' ? sessionUrl : undefined),
    viewerState: () => (viewer ? { viewerConnected: true, keysConfirmed: true } : null),
    waitForChange: (id: string, _seconds: number, signal?: AbortSignal) =>
      known(id).then(
        () =>
          new Promise<HandoffView>((resolve) => {
            // An ending that came before this wait began is returned at once.
            if (['resolved', 'cancelled', 'timeout', 'error'].includes(status)) resolve(view());
            changed = () => resolve(view());
            signal?.addEventListener('abort', () => resolve(view()), { once: true });
          }),
      ),
    cancel: (id: string) => {
      cancelled.push(id);
      status = 'cancelled';
      changed?.();
      return Promise.resolve(view());
    },
  } as unknown as HandoffAgent;
  return {
    handoff,
    sessionUrl,
    cancelled,
    set(next: HandoffView['status'], viewerConnected: boolean) {
      status = next;
      viewer = viewerConnected;
      changed?.();
    },
  };
}
