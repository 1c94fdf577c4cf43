import type { MiddlewareHandler } from 'hono';
import { LoopgateError } from '../core/errors.js';
import type { AppEnv } from './appEnv.js';

const loopbackHostnames = ['localhost', '127.0.0.1', '[::1]', '::1'];

/** Host names (no port) and origins this server answers to. */
export interface AllowedOrigins {
  hostnames: Set<string>;
  origins: Set<string>;
}

/**
 * What a server reachable at `publicUrl` (and, when bound to loopback, at localhost on `port`)
 * accepts as Host and Origin.
 */
export function buildAllowedOrigins(
  publicUrl: string,
  port: number,
  loopback: boolean,
): AllowedOrigins {
  const url = new URL(publicUrl);
  const hostnames = new Set([url.hostname.toLowerCase()]);
  const origins = new Set([url.origin]);
  if (loopback) {
    for (const name of loopbackHostnames) {
      hostnames.add(name);
      const bracketed = name === '::1' ? '[::1]' : name;
      origins.add(`http://${bracketed}:${port}`);
      origins.add(`https://${bracketed}:${port}`);
    }
  }
  return { hostnames, origins };
}

function hostnameOf(hostHeader: string): string {
  const host = hostHeader.trim().toLowerCase();
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/**
 * DNS-rebinding and cross-site guard: the Host header must name this server, and a request
 * that carries an Origin header must come from this server's own origin.
 * @throws LoopgateError E_HTTP_HOST_FORBIDDEN, E_HTTP_ORIGIN_FORBIDDEN
 */
export function hostOriginGuard(allowed: () => AllowedOrigins): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const { hostnames, origins } = allowed();
    const host = c.req.header('host');
    if (!host || !hostnames.has(hostnameOf(host))) {
      throw new LoopgateError(
        'E_HTTP_HOST_FORBIDDEN',
        `Host "${host ?? ''}" is not served here; expected one of ${[...hostnames].join(', ')}. Set --public-url to the address you open.`,
      );
    }
    const origin = c.req.header('origin');
    if (origin !== undefined && !origins.has(origin)) {
      throw new LoopgateError(
        'E_HTTP_ORIGIN_FORBIDDEN',
        `Requests from origin "${origin}" are refused; only this server's own pages may call it.`,
      );
    }
    await next();
  };
}
