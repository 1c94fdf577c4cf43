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
  /** Puts a backend taken out back in turn. */
  restore(index: number): void;
  close(): Promise<void>;
}
/**
 * Listens on a free 127.0.0.1 port and hands each new TCP connection to the next backend in
 * turn (no stickiness: one client's connections land on different servers). A backend that
 * refuses the connection is skipped for that connection. Bytes pass unchanged both ways, so
 * HTTP keep-alive keeps one client connection on one backend, like a layer-4 balancer.
 */
export declare function startBalancer(
  initial?: {
    host: string;
    port: number;
  }[],
): Promise<Balancer>;
