import { afterEach, describe, expect, it } from 'vitest';
import { isLoopgateError } from '../core/errors.js';
import { CdpConnection } from './cdpConnection.js';
import { startFakeDevTools, type FakeDevTools } from './testing/fakeDevTools.js';

let devtools: FakeDevTools | undefined;
afterEach(async () => {
  await devtools?.close();
  devtools = undefined;
});

function outcome(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'answered',
    (err: unknown) => (isLoopgateError(err) ? `${err.code}: ${err.message}` : String(err)),
  );
}

describe('CdpConnection', () => {
  it('settles the commands of a detached page that Chromium never answers, and only those', async () => {
    devtools = await startFakeDevTools((c) => (c.sessionId === 'GONE' ? 'never' : {}));
    const conn = await CdpConnection.connect(devtools.browserWsUrl);
    try {
      const click = outcome(
        conn.send('Input.dispatchMouseEvent', { type: 'mouseReleased' }, 'GONE'),
      );
      await expect.poll(() => devtools!.commands.length).toBe(1);
      devtools.emit('Target.detachedFromTarget', { sessionId: 'GONE', targetId: 'P' });
      expect(await click).toBe(
        'E_CDP_DISCONNECTED: The page closed before Input.dispatchMouseEvent was answered.',
      );
      expect(await outcome(conn.send('Page.enable', {}, 'STAYS'))).toBe('answered');
    } finally {
      await conn.close();
    }
  });

  it('gives up on a command Chromium does not answer within the command timeout', async () => {
    devtools = await startFakeDevTools(() => 'never');
    const conn = await CdpConnection.connect(devtools.browserWsUrl, { commandTimeoutMs: 200 });
    try {
      expect(await outcome(conn.send('Page.enable'))).toBe(
        'E_CDP_COMMAND_FAILED: Chromium did not answer Page.enable within 0.2 s.',
      );
    } finally {
      await conn.close();
    }
  });
});
