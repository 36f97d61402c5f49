/**
 * Which owner a request acts for, decided from its credential. The owner
 * always comes from the credential; a request may name an owner only to have
 * it checked (reads: it must be the credential's own; ingest: it may be
 * another owner when the key is an explicit multi-owner ingest key).
 *
 * Invariants:
 * - A read never acts for an owner other than the credential's.
 * - An ingest acts for another owner only when the key's ingestOwners names
 *   it, or is `*`; a token never ingests at all (it has no ingest scope).
 */
import { ForbiddenError, RequestMalformedError } from './errors.js';

/** The header (HTTP) and metadata key (gRPC) by which an ingest names its owner. */
export const OWNER_HEADER = 'x-eventide-owner';
const OWNER_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export interface ScopedPrincipal {
  owner: string;
  ingestOwners?: readonly string[] | undefined;
}

/** The owner an ingest writes for: the credential's, or the one it names if the key may write for it. */
export function ingestOwnerOf(principal: ScopedPrincipal, named: string | undefined): string {
  if (named === undefined || named === principal.owner) return principal.owner;
  if (!OWNER_PATTERN.test(named)) {
    throw new RequestMalformedError(`${OWNER_HEADER} must match [A-Za-z0-9_.-]{1,64}`, { field: OWNER_HEADER });
  }
  const allowed = principal.ingestOwners;
  if (allowed !== undefined && (allowed.includes('*') || allowed.includes(named))) return named;
  throw new ForbiddenError(`this key may not ingest for owner "${named}"`, OWNER_HEADER);
}

/** Refuses a read that names an owner other than the credential's; the credential's owner otherwise. */
export function ownOwnerOf(principal: ScopedPrincipal, named: unknown, field = 'owner'): string {
  if (named === undefined || named === null || named === '' || named === principal.owner) return principal.owner;
  throw new ForbiddenError('a key or token may only read its own owner', field);
}
