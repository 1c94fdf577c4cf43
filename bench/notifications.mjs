/**
 * Notification delivery (issue 5): how long after `request_approval` (POST /v1/approvals with an
 * agent key, what the MCP tool does) the Slack Web API is called and the SMTP server has the
 * mail, and what one approver receives when 1,000 requests arrive within a minute.
 *
 * Slack is a local stand-in for its Web API (we cannot reach Slack); SMTP is a real server
 * (`smtp-server`) on loopback. Both record the arrival time of each call. Latency samples use a
 * different recipient each, so the per-approver limit (5 a minute) does not hold them back.
 */
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { SMTPServer } from 'smtp-server';
import { createLogger } from '../dist/cli/logger.js';
import { startServer } from '../dist/cli/startServer.js';
import { resolveConfig } from '../dist/config/resolveConfig.js';
import { createAgentKey } from '../dist/service/operatorAuth.js';
import { createTempDataDir } from './benchServer.mjs';
import { summarizeMs } from './stats.mjs';

const defaults = {
  /** Requests per latency measurement. */
  samples: 200,
  /** Requests sent to one approver in the flood. */
  floodRequests: 1_000,
  /** How long the flood's approver is watched, from its first request (one window + 1 s). */
  floodWatchMs: 61_000,
};

const goals = { notificationsPerMinute: 5 };

/** A Slack Web API stand-in: answers like Slack and timestamps every chat.postMessage. */
async function startSlackStandIn() {
  const posts = [];
  let ts = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      if (req.url === '/api/chat.postMessage')
        posts.push({ at, channel: body.channel, text: body.text });
      ts += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          ok: true,
          channel: String(body.channel).startsWith('#') ? 'C0BENCH' : body.channel,
          ts: `1763632800.${String(ts).padStart(6, '0')}`,
        }),
      );
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/api`,
    posts,
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(resolve))),
  };
}

/** A real SMTP server that timestamps each accepted mail (end of DATA) with its subject. */
async function startSmtp() {
  const mails = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    onData(stream, _session, callback) {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', () => {
        const at = performance.now();
        const raw = Buffer.concat(chunks).toString('utf8');
        mails.push({ at, subject: /^Subject: (.*)$/m.exec(raw)?.[1] ?? '' });
        callback();
      });
    },
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.server.address().port,
    mails,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

async function requestApproval(url, agentKey, body) {
  const response = await fetch(`${url}/v1/approvals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ action_details: { bench: 'yes' }, ...body }),
  });
  if (response.status !== 201)
    throw new Error(`request_approval answered ${response.status}: ${await response.text()}`);
  return response.json();
}

async function waitFor(check, timeoutMs, what) {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

/**
 * Latency from sending request_approval to the matching arrival (Slack call or SMTP handoff),
 * one request at a time.
 */
async function measureLatency(url, agentKey, samples, bodyFor, arrivals, matches) {
  const times = [];
  for (let i = 0; i < samples; i += 1) {
    const description = `bench ${bodyFor.name} ${i} ${Math.random().toString(36).slice(2)}`;
    const started = performance.now();
    await requestApproval(url, agentKey, { action_description: description, ...bodyFor(i) });
    await waitFor(() => arrivals.some((a) => matches(a, description)), 10_000, description);
    const arrival = arrivals.find((a) => matches(a, description));
    times.push(arrival.at - started);
  }
  return summarizeMs(times);
}

/**
 * Runs the notification benchmark against a server started in this process (from dist/).
 * @param {Partial<typeof defaults>} [options]
 * @returns {Promise<object>} JSON-ready results
 */
export async function runNotificationsBench(options = {}) {
  const settings = { ...defaults, ...options };
  const slack = await startSlackStandIn();
  const smtp = await startSmtp();
  const dataDir = createTempDataDir('notify');
  let server;
  try {
    const config = resolveConfig(
      {
        dataDir: dataDir.path,
        port: 0,
        logLevel: 'silent',
        slackBotToken: 'xoxb-bench',
        slackApiUrl: slack.url,
        smtpUrl: `smtp://127.0.0.1:${smtp.port}`,
        emailFrom: 'Loopgate <approvals@example.com>',
        // Agents may notify only linked operators and what an admin allowed; the bench allows its
        // stand-in recipients and lifts the per-agent budget to measure the per-approver limit.
        allowedEmailRecipients: '@example.com',
        allowedSlackRecipients: [
          '#approvals',
          ...Array.from(
            { length: settings.samples },
            (_, i) => `U0BENCH${String(i).padStart(5, '0')}`,
          ),
        ],
        agentNotificationsPerHour: 100_000,
      },
      {},
    );
    server = await startServer(config, createLogger('silent'));
    const { key } = await createAgentKey(server.store, 'bench-agent', Date.now());

    const slackLatency = await measureLatency(
      server.url,
      key,
      settings.samples,
      function slack(i) {
        return { recipient_slack: `U0BENCH${String(i).padStart(5, '0')}` };
      },
      slack.posts,
      (post, description) => post.text === `Approval requested: ${description}`,
    );
    const smtpLatency = await measureLatency(
      server.url,
      key,
      settings.samples,
      function email(i) {
        return { recipient_email: `approver${i}@example.com` };
      },
      smtp.mails,
      (mail, description) => mail.subject === `Approval needed: ${description}`,
    );

    // The flood: 1,000 requests for one approver as fast as the agent can send them.
    const before = slack.posts.length;
    const floodStarted = performance.now();
    const ids = [];
    for (let i = 0; i < settings.floodRequests; i += 1) {
      const view = await requestApproval(server.url, key, {
        action_description: `flood ${i}`,
        recipient_slack: '#approvals',
      });
      ids.push(view.pause_id);
    }
    const floodSentMs = performance.now() - floodStarted;
    await sleep(Math.max(0, settings.floodWatchMs - (performance.now() - floodStarted)));
    await server.notifications.router.idle();
    const toApprover = slack.posts.slice(before).filter((p) => p.channel === '#approvals');
    const firstMinute = toApprover.filter((p) => p.at - floodStarted < 60_000);
    const pending = await server.service.listApprovals({
      status: 'pending',
      limit: settings.floodRequests + 2 * settings.samples + 10,
    });
    const pendingIds = new Set(pending.map((r) => r.id));

    return {
      request_to_slack_call_ms: slackLatency,
      request_to_smtp_handoff_ms: smtpLatency,
      flood: {
        requests: settings.floodRequests,
        sent_in_ms: Math.round(floodSentMs),
        watched_ms: settings.floodWatchMs,
        notifications_first_minute: firstMinute.length,
        notifications_total: toApprover.length,
        digests: toApprover
          .filter((p) => / more requests? waiting$/.test(p.text))
          .map((p) => p.text),
        in_inbox: ids.filter((id) => pendingIds.has(id)).length,
        goal_per_minute: goals.notificationsPerMinute,
        goal_met:
          firstMinute.length <= goals.notificationsPerMinute &&
          ids.every((id) => pendingIds.has(id)),
      },
    };
  } finally {
    await server?.close();
    await slack.close();
    await smtp.close();
    dataDir.remove();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await runNotificationsBench(
    process.env['BENCH_QUICK'] ? { samples: 30, floodRequests: 200, floodWatchMs: 61_000 } : {},
  );
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}
