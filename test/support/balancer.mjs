/** A round-robin TCP balancer for the tests and the benchmark (plain JavaScript; types in balancer.d.mts). */
import { connect, createServer } from 'node:net';
/**
 * Listens on a free 127.0.0.1 port and hands each new TCP connection to the next backend in
 * turn (no stickiness: one client's connections land on different servers). A backend that
 * refuses the connection is skipped for that connection. Bytes pass unchanged both ways, so
 * HTTP keep-alive keeps one client connection on one backend, like a layer-4 balancer.
 */
export async function startBalancer(initial = []) {
  const backends = [...initial];
  const removed = new Set();
  const counts = backends.map(() => 0);
  const sockets = new Set();
  let next = 0;
  function pick(skip) {
    for (let tried = 0; tried < backends.length; tried += 1) {
      const index = next % backends.length;
      next += 1;
      if (!removed.has(index) && !skip.has(index)) return index;
    }
    return null;
  }
  function pipeTo(client, skip) {
    const index = pick(skip);
    if (index === null) {
      client.destroy();
      return;
    }
    const backend = backends[index];
    const upstream = connect(backend.port, backend.host);
    sockets.add(upstream);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      counts[index] += 1;
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.on('error', () => {
      if (!connected) {
        skip.add(index);
        pipeTo(client, skip);
      } else client.destroy();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      if (connected) client.destroy();
    });
    client.on('close', () => upstream.destroy());
    client.on('error', () => upstream.destroy());
  }
  const server = createServer({ pauseOnConnect: true }, (client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    pipeTo(client, new Set());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    counts,
    add: (backend) => {
      backends.push(backend);
      counts.push(0);
    },
    remove: (index) => removed.add(index),
    restore: (index) => removed.delete(index),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
