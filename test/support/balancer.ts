import { connect, createServer, type Server, type Socket } from 'node:net';

/** A round-robin TCP balancer in front of several servers, as a team runs loopgate. */
export interface Balancer {
  /** `http://127.0.0.1:<port>`: where clients connect. */
  url: string;
  port: number;
  /** Connections sent to each backend so far, in backend order. */
  counts: number[];
  /** Adds a backend (a server started after the balancer, told the balancer's URL). */
  add(backend: { host: string; port: number }): void;
  /** Takes a backend out (a dead server): new connections skip it. */
  remove(index: number): void;
  close(): Promise<void>;
}

/**
 * Listens on a free 127.0.0.1 port and hands each new TCP connection to the next backend in
 * turn (no stickiness: one client's connections land on different servers). A backend that
 * refuses the connection is skipped for that connection. Bytes pass unchanged both ways, so
 * HTTP keep-alive keeps one client connection on one backend, like a layer-4 balancer.
 */
export async function startBalancer(
  initial: { host: string; port: number }[] = [],
): Promise<Balancer> {
  const backends = [...initial];
  const removed = new Set<number>();
  const counts = backends.map(() => 0);
  const sockets = new Set<Socket>();
  let next = 0;

  function pick(skip: Set<number>): number | null {
    for (let tried = 0; tried < backends.length; tried += 1) {
      const index = next % backends.length;
      next += 1;
      if (!removed.has(index) && !skip.has(index)) return index;
    }
    return null;
  }

  function pipeTo(client: Socket, skip: Set<number>): void {
    const index = pick(skip);
    if (index === null) {
      client.destroy();
      return;
    }
    const backend = backends[index]!;
    const upstream = connect(backend.port, backend.host);
    sockets.add(upstream);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      counts[index]! += 1;
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

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    pipeTo(client, new Set());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    counts,
    add: (backend) => {
      backends.push(backend);
      counts.push(0);
    },
    remove: (index) => removed.add(index),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
