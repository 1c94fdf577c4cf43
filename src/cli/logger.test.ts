import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger('info', stream) };
}

describe('createLogger', () => {
  it('blanks second factors, challenges and session secrets however deeply they are nested', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        body: {
          totp_code: '123456',
          step_up: { code: '654321', webauthn: { challenge: 'c2VjcmV0' } },
        },
        req: {
          headers: {
            authorization: 'Bearer lg_live',
            'X-Loopgate-Session': 'sess_1',
            host: 'localhost',
          },
        },
        list: [{ secret: 'whsec_x', name: 'hook' }],
        pause_id: 'pause_1',
      },
      'decided',
    );
    const text = JSON.stringify(lines[0]);
    for (const leaked of ['123456', '654321', 'c2VjcmV0', 'lg_live', 'sess_1', 'whsec_x'])
      expect(text).not.toContain(leaked);
    expect(lines[0]).toMatchObject({
      msg: 'decided',
      pause_id: 'pause_1',
      list: [{ name: 'hook' }],
      req: { headers: { host: 'localhost' } },
    });
  });

  it('keeps an error message and stack readable', () => {
    const { lines, logger } = capture();
    logger.error({ err: new Error('disk full') }, 'write failed');
    expect(lines[0]).toMatchObject({ err: { message: 'disk full' } });
  });
});
