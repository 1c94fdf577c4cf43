import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initDataDir, runCli, startServe, type ServeProcess } from '../support/cli.js';

/**
 * Memory exhaustion without signing in, against the real server process: huge chunked bodies
 * (no Content-Length) to the routes that are always mounted, and thousands of unique missing
 * asset paths. The server's resident set size is read from /proc before and after.
 * Also: JSON the canonicaliser cannot take (1e400, deep nesting) and malformed %-escapes get a
 * 4xx with a code, not a 500.
 */

const mib = 1024 * 1024;
let dataDir: string;
let serve: ServeProcess;
let origin: URL;
let gatewayKey: string;

/** The server's resident set size in MiB (Linux /proc). */
function serverRssMib(): number {
  const status = readFileSync(`/proc/${serve.child.pid}/status`, 'utf8');
  const kib = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]);
  expect(kib).toBeGreaterThan(0);
  return kib / 1024;
}

/**
 * POSTs up to `totalBytes` as a chunked body (Transfer-Encoding: chunked, no Content-Length),
 * generated as it is sent, and stops sending as soon as the server answers.
 */
function postChunked(
  path: string,
  contentType: string,
  totalBytes: number,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(
      {
        host: '127.0.0.1',
        port: origin.port,
        method: 'POST',
        path,
        headers: { host: origin.host, 'content-type': contentType, 'transfer-encoding': 'chunked' },
      },
      (res) => {
        answered = true;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const chunk = Buffer.alloc(64 * 1024, 'a'.charCodeAt(0));
    function* body() {
      yield Buffer.from('{"token":"');
      for (let sent = 0; sent < totalBytes && !answered; sent += chunk.length) yield chunk;
    }
    const chunks = body();
    const pump = () => {
      for (;;) {
        const next = chunks.next();
        if (next.done) {
          if (!answered) req.end();
          return;
        }
        if (!req.write(next.value)) {
          req.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}

async function postJsonText(path: string, text: string, headers: Record<string, string> = {}) {
  const response = await fetch(new URL(path, origin), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: text,
  });
  return { status: response.status, body: (await response.json()) as { error?: { code: string } } };
}

beforeAll(async () => {
  dataDir = await initDataDir(mkdtempSync(join(tmpdir(), 'loopgate-limits-')));
  const created = await runCli([
    'keys',
    'create',
    '--name',
    'proxy',
    '--scope',
    'gateway',
    '--data-dir',
    dataDir,
  ]);
  expect(created.code, created.stderr).toBe(0);
  gatewayKey = created.stdout.trim();
  serve = await startServe(dataDir, ['--slack-signing-secret', 'slack-signing-secret-for-tests']);
  origin = new URL(serve.url);
});

afterAll(async () => {
  await serve?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('request bodies and the asset cache', () => {
  it('refuses 200 MB chunked bodies and 20,000 unique missing assets without growing past 150 MB', async () => {
    // Warm up every route once so lazily loaded code is counted in the baseline.
    for (const path of ['/v1/email/confirm', '/v1/email/confirm/lookup', '/v1/slack/actions'])
      await postJsonText(path, '{}');
    await fetch(new URL('/assets/missing.js', origin));
    const before = serverRssMib();

    const targets: [string, string][] = [
      ['/v1/email/confirm', 'application/json'],
      ['/v1/email/confirm/lookup', 'application/json'],
      ['/v1/slack/actions', 'application/x-www-form-urlencoded'],
    ];
    for (const [path, type] of targets) {
      const answer = await postChunked(path, type, 200 * mib);
      expect(answer.status, answer.body).toBe(413);
      expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'E_HTTP_BODY_TOO_LARGE' } });
    }
    // Slack's endpoint keeps its own smaller limit for chunked bodies too.
    const slack = await postChunked(
      '/v1/slack/actions',
      'application/x-www-form-urlencoded',
      100 * 1024,
    );
    expect(slack.status).toBe(413);
    expect(JSON.parse(slack.body)).toMatchObject({
      error: { code: 'E_HTTP_BODY_TOO_LARGE', message: expect.stringContaining('65536') },
    });

    const long = 'x'.repeat(4_000);
    let next = 0;
    const statuses = new Set<number>();
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < 20_000) {
          const i = next++;
          const response = await fetch(new URL(`/assets/${long}${i}.js`, origin));
          statuses.add(response.status);
          await response.arrayBuffer();
        }
      }),
    );
    expect([...statuses]).toEqual([404]);

    const after = serverRssMib();
    expect(
      after - before,
      `RSS went from ${before.toFixed(0)} MiB to ${after.toFixed(0)} MiB`,
    ).toBeLessThan(150);
    // Still serving.
    expect((await fetch(new URL('/healthz', origin))).status).toBe(200);
  }, 360_000);

  it('takes a body just under the limit', async () => {
    const answer = await postJsonText(
      '/v1/email/confirm/lookup',
      JSON.stringify({ token: 'x', pad: 'a'.repeat(mib - 100) }),
    );
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('E_EMAIL_CONFIRM_TOKEN_INVALID');
  });
});

describe('JSON and paths the server cannot take', () => {
  const auth = () => ({ authorization: `Bearer ${gatewayKey}` });
  const deep = (n: number) => `${'['.repeat(n)}1${']'.repeat(n)}`;

  it('answers 1e400 and deeply nested gateway arguments with 400 E_JSON_UNSUPPORTED', async () => {
    for (const path of ['/v1/gateway/approvals', '/v1/gateway/consume']) {
      for (const args of ['{"amount":1e400}', `{"list":${deep(100_000)}}`, '{"n":-1e999}']) {
        const answer = await postJsonText(
          path,
          `{"tool":"transfer","arguments":${args},"gate":{"type":"approve"},"timeout_minutes":5}`,
          auth(),
        );
        expect(answer.status, `${path} ${args.slice(0, 30)}`).toBe(400);
        expect(answer.body.error?.code).toBe('E_JSON_UNSUPPORTED');
      }
    }
    // Nesting a page can show in full (core/toolCallLimits) still works.
    const ok = await postJsonText(
      '/v1/gateway/approvals',
      `{"tool":"transfer","arguments":{"list":${deep(5)}},"gate":{"type":"approve"},"timeout_minutes":5}`,
      auth(),
    );
    expect(ok.status).toBe(201);
  });

  it('answers malformed percent-escapes under /assets with 400 E_HTTP_PATH_INVALID', async () => {
    for (const path of [
      '/assets/%E0%A4%A',
      '/assets/%',
      '/assets/e2ee/%zz.js',
      '/assets/viewer/%C0',
    ]) {
      const response = await fetch(new URL(path, origin));
      expect(response.status, path).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
        'E_HTTP_PATH_INVALID',
      );
    }
  });
});
