/**
 * Open ws connections keep their credential checked: every
 * WS_RECHECK_INTERVAL_MS each distinct key of an open connection is verified
 * again (through the key cache, so at most one store read per key per cache
 * TTL), and each token is held against its expiry (no lookup). A connection
 * whose key was revoked or expired, or whose token expired, is refused: an
 * error frame, then close 1008.
 *
 * With the key cache TTL of 750 ms (src/auth/keys.ts), an open stream ends
 * within one second of its key's revocation on every process.
 */
import { TokenExpiredError } from '../auth/errors.js';
import type { EventideError } from '../errors.js';
import { UnauthenticatedError } from './errors.js';
import type { Authenticate, Principal } from './http.js';

/** How often the credentials of open connections are checked again. */
export const WS_RECHECK_INTERVAL_MS = 250;

/** What the re-check needs of a connection (ws.ts StreamConnection). */
export interface CheckedConnection {
  readonly principal: Principal | undefined;
  /** The key or token the principal came from. */
  readonly credential: string | undefined;
  readonly closed: boolean;
  refuse(err: EventideError): void;
}

/** Counted when a connection is ended by the re-check. */
export interface RecheckStats {
  credentialsEnded: number;
}

/** Starts the re-check timer (unref'd); clear it with clearInterval when the server closes. A round never overlaps the previous one. */
export function startRecheck(connections: ReadonlySet<CheckedConnection>, authenticate: Authenticate, stats: RecheckStats): NodeJS.Timeout {
  let running = false;
  const round = async (): Promise<void> => {
    const byCredential = new Map<string, CheckedConnection[]>();
    const nowMs = Date.now();
    for (const connection of connections) {
      const { principal, credential } = connection;
      if (principal === undefined || credential === undefined || connection.closed) continue;
      if (principal.kind === 'token') {
        if (principal.expiresAtMs !== undefined && principal.expiresAtMs <= nowMs) {
          stats.credentialsEnded++;
          connection.refuse(new TokenExpiredError(principal.expiresAtMs));
        }
        continue;
      }
      const group = byCredential.get(credential);
      if (group === undefined) byCredential.set(credential, [connection]);
      else group.push(connection);
    }
    for (const [credential, group] of byCredential) {
      let valid: boolean;
      try {
        valid = (await authenticate(credential)) !== undefined;
      } catch (err) {
        // A store that cannot answer is not a revocation; the next round asks again.
        if ((err as { code?: unknown }).code === 'EVT_TOKEN_EXPIRED') valid = false;
        else continue;
      }
      if (valid) continue;
      for (const connection of group) {
        // A connection that re-authenticated meanwhile holds another credential now.
        if (connection.closed || connection.credential !== credential) continue;
        stats.credentialsEnded++;
        connection.refuse(new UnauthenticatedError('the key was revoked or has expired'));
      }
    }
  };
  const timer = setInterval(() => {
    if (running || connections.size === 0) return;
    running = true;
    void round()
      // A round that fails (a socket closing under it) is retried by the next one.
      .catch(() => undefined)
      .finally(() => {
        running = false;
      });
  }, WS_RECHECK_INTERVAL_MS);
  timer.unref();
  return timer;
}
