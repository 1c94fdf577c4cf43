/**
 * A small JSON client over `node:http` with a caller-supplied keep-alive agent: lighter than
 * fetch, so the load generator takes less of the CPU the server needs.
 */
import http from 'node:http';

/**
 * Sends one request and parses the JSON answer.
 * @param {http.Agent} agent keep-alive agent
 * @param {string} url absolute URL
 * @param {{method?: string, headers?: Record<string, string>, body?: unknown}} [options] `body`
 *   is sent as JSON
 * @returns {Promise<{status: number, body: any}>}
 * @throws Error on a network error or a body that is not JSON
 */
export function requestJson(agent, url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const request = http.request(
      url,
      {
        agent,
        method,
        headers: {
          accept: 'application/json',
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': payload.length }
            : {}),
          ...headers,
        },
      },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => {
          try {
            resolve({
              status: response.statusCode ?? 0,
              body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
            });
          } catch (err) {
            reject(err);
          }
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}
