import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mintToken, TOKEN_CHARS_MAX, TokenVerifier, type TokenClaims } from '../../src/auth/tokens.js';
import { tokenSigningKey } from '../../src/auth/secret.js';

const NOW_MS = 1_700_000_000_000;
const SECRET = crypto.randomBytes(32);
const CLAIMS: TokenClaims = { owner: 'acme', keyPrefix: 'evt_AAAAAAAA', issuedAtMs: NOW_MS, expiresAtMs: NOW_MS + 60_000 };

void test('a minted token verifies to its claims without any store', () => {
  const token = mintToken(SECRET, CLAIMS);
  assert.match(token, /^evtt_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  assert.ok(token.length < TOKEN_CHARS_MAX);
  assert.deepEqual(new TokenVerifier(SECRET).verify(token, NOW_MS), CLAIMS);
});

void test('an expired token is EVT_TOKEN_EXPIRED, from its expiry on', () => {
  const token = mintToken(SECRET, CLAIMS);
  const verifier = new TokenVerifier(SECRET);
  assert.ok(verifier.verify(token, CLAIMS.expiresAtMs - 1));
  assert.throws(() => verifier.verify(token, CLAIMS.expiresAtMs), { code: 'EVT_TOKEN_EXPIRED', field: 'authorization' });
  assert.equal(verifier.expiredCount, 1);
});

void test('a changed payload, a changed signature, another secret or junk are refused', () => {
  const token = mintToken(SECRET, CLAIMS);
  const verifier = new TokenVerifier(SECRET);
  const [signed, signature] = token.split('.') as [string, string];
  const forged = Buffer.from(JSON.stringify({ v: 1, o: 'other', k: 'evt_AAAAAAAA', iat: NOW_MS, exp: NOW_MS + 60_000 })).toString('base64url');
  const flipped = signature.slice(0, -2) + (signature.at(-2) === 'A' ? 'B' : 'A') + signature.at(-1)!;
  const refused = [
    `evtt_${forged}.${signature}`,
    `${signed}.${flipped}`,
    mintToken(crypto.randomBytes(32), CLAIMS),
    `${signed}.`,
    `${signed}`,
    'evtt_.x',
    `evtt_${'a'.repeat(TOKEN_CHARS_MAX)}`,
    '',
  ];
  for (const candidate of refused) assert.equal(verifier.verify(candidate, NOW_MS), undefined, candidate.slice(0, 40));
  assert.equal(verifier.refusedCount, refused.length);
});

void test('a correctly signed payload of the wrong shape is refused, not trusted in part', () => {
  const verifier = new TokenVerifier(SECRET);
  const key = tokenSigningKey(SECRET);
  const signedToken = (payload: unknown): string => {
    const signed = `evtt_${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    return `${signed}.${crypto.createHmac('sha256', key).update(signed).digest('base64url')}`;
  };
  assert.ok(verifier.verify(signedToken({ v: 1, o: 'acme', k: 'evt_x', iat: 1, exp: NOW_MS + 1 }), NOW_MS));
  for (const payload of [
    { v: 2, o: 'acme', k: 'evt_x', iat: 1, exp: NOW_MS + 1 },
    { v: 1, o: 'a b', k: 'evt_x', iat: 1, exp: NOW_MS + 1 },
    { v: 1, o: 'acme', iat: 1, exp: NOW_MS + 1 },
    { v: 1, o: 'acme', k: 'evt_x', iat: 1, exp: '9999999999999' },
    null,
  ]) {
    assert.equal(verifier.verify(signedToken(payload), NOW_MS), undefined, JSON.stringify(payload));
  }
});

void test('a token signed with the previous secret still verifies during a rotation; with the previous secret dropped it does not', () => {
  const oldSecret = crypto.randomBytes(32);
  const newSecret = crypto.randomBytes(32);
  const token = mintToken(oldSecret, CLAIMS);
  assert.ok(new TokenVerifier({ current: newSecret, previous: oldSecret }).verify(token, NOW_MS));
  assert.equal(new TokenVerifier(newSecret).verify(token, NOW_MS), undefined);
});

void test('a key hash and a token signature never share a key: a token signed with the raw secret is refused', () => {
  const signed = `evtt_${Buffer.from(JSON.stringify({ v: 1, o: 'acme', k: 'evt_x', iat: 1, exp: NOW_MS + 1 })).toString('base64url')}`;
  const withRawSecret = `${signed}.${crypto.createHmac('sha256', SECRET).update(signed).digest('base64url')}`;
  assert.equal(new TokenVerifier(SECRET).verify(withRawSecret, NOW_MS), undefined);
});
