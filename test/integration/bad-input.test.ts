/**
 * Bad input gets the right status and a stable code, and the server keeps
 * serving everyone else: a well-formed batch after all of them is counted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { getJson, postEvents, startTestServer } from '../helpers.js';

function errorOf(body: Record<string, unknown>): { code?: string; field?: string } {
  return (body.error ?? {});
}

test('malformed, oversize, unauthenticated and hostile requests are refused with stable codes', async (t) => {
  const server = await startTestServer(t, { bodyBytesMax: 64 * 1024, bodyInflatedBytesMax: 256 * 1024, batchEventsMax: 100 });
  const cases: Array<{ what: string; body: string | Uint8Array; headers?: Record<string, string>; key?: string | null; status: number; code: string; field?: string }> = [
    { what: 'malformed JSON', body: '{"events": [', status: 400, code: 'EVT_BODY_MALFORMED' },
    { what: 'malformed msgpack', body: new Uint8Array([0xc1, 0xc1, 0xc1]), headers: { 'content-type': 'application/msgpack' }, status: 400, code: 'EVT_BODY_MALFORMED' },
    { what: 'malformed protobuf', body: new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f]), headers: { 'content-type': 'application/x-protobuf' }, status: 400, code: 'EVT_BODY_MALFORMED' },
    { what: 'a single event of the wrong type', body: JSON.stringify({ name: ['x'] }), status: 400, code: 'EVT_FIELD_TYPE', field: 'name' },
    { what: 'an empty batch', body: JSON.stringify({ events: [] }), status: 400, code: 'EVT_BATCH_EMPTY' },
    { what: 'too many events', body: JSON.stringify({ events: Array.from({ length: 101 }, () => ({ name: 'a' })) }), status: 413, code: 'EVT_BATCH_TOO_LONG' },
    { what: 'an oversize body', body: JSON.stringify({ events: [{ name: 'a', properties: { p: 'x'.repeat(70_000) } }] }), status: 413, code: 'EVT_BODY_TOO_LARGE' },
    { what: 'a gzip bomb', body: gzipSync(Buffer.alloc(4 * 1024 * 1024, 0x20)), headers: { 'content-encoding': 'gzip' }, status: 413, code: 'EVT_BODY_TOO_LARGE' },
    { what: 'a corrupt gzip stream', body: new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]), headers: { 'content-encoding': 'gzip' }, status: 400, code: 'EVT_BODY_MALFORMED' },
    { what: 'an unknown content type', body: 'x', headers: { 'content-type': 'text/csv' }, status: 415, code: 'EVT_UNSUPPORTED_MEDIA_TYPE' },
    { what: 'a missing key', body: JSON.stringify({ name: 'a' }), key: null, status: 401, code: 'EVT_UNAUTHENTICATED' },
    { what: 'an unknown key', body: JSON.stringify({ name: 'a' }), key: 'evt_AAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB', status: 401, code: 'EVT_UNAUTHENTICATED' },
    { what: 'a prototype-pollution key', body: '{"name":"a","properties":{"__proto__":{"admin":true}}}', status: 400, code: 'EVT_FIELD_INVALID', field: 'properties/__proto__' },
  ];
  for (const c of cases) {
    const key = c.key === null ? undefined : (c.key ?? server.key);
    const answer = await postEvents(server, key, c.body, c.headers ?? {});
    assert.equal(answer.status, c.status, `${c.what}: ${JSON.stringify(answer.body)}`);
    assert.equal(errorOf(answer.body).code, c.code, `${c.what}: ${JSON.stringify(answer.body)}`);
    if (c.field !== undefined) assert.equal(errorOf(answer.body).field, c.field, c.what);
  }

  // Everyone else is still served.
  const ok = await postEvents(server, server.key, JSON.stringify({ events: [{ id: 'fine', name: 'ok', timestamp: Date.now() }] }));
  assert.equal(ok.status, 200);
  const now = Date.now();
  const metrics = await getJson(`${server.httpUrl}/v1/metrics?resolution=1m&from=${now - 120_000}&to=${now + 60_000}`, server.key);
  assert.equal((metrics.body.summary as { total: number }).total, 1);
});

// A body that lies about its length is covered at the parser, on real sockets: test/edge/raw-body.test.ts.
