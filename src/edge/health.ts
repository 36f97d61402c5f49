/**
 * Liveness and readiness, one answer for every place that asks: the HTTP
 * routes (`/livez`, `/healthz`, `/readyz`), the metrics listener when it has
 * its own port, and (through `router.readiness()`) gRPC health checking.
 *
 * - Live: the process answers. Nothing is asked of a worker or a store, so a
 *   slow store never gets a healthy process restarted by its orchestrator.
 * - Ready: it should be sent traffic. Every worker is up, the event store
 *   takes writes (its last flush did not fail), and the process is neither
 *   draining nor closing. A failing snapshot store is `degraded`, not unready:
 *   ingest goes on without snapshots (README, "Real backends").
 */
import type { Readiness, Router } from '../runtime/router.js';

export interface HealthAnswer<T> {
  status: 200 | 503;
  body: T;
}

export function liveness(): HealthAnswer<{ ok: true }> {
  return { status: 200, body: { ok: true } };
}

/**
 * Readiness from the router, plus the edge's own `closing` (its listeners
 * stopped taking new work). 503 names every reason.
 */
export function readiness(router: Pick<Router, 'readiness'>, closing: boolean): HealthAnswer<Readiness> {
  const body = router.readiness();
  if (closing && !body.reasons.includes('closing')) body.reasons = [...body.reasons, 'closing'];
  const ready = body.ready && !closing;
  return { status: ready ? 200 : 503, body: { ...body, ready } };
}
