/**
 * Hostile gRPC clients on a raw HTTP/2 session against a real server: oversize
 * metadata, a unary call whose message never comes, an idle stream, messages
 * over the size limit (raw and compressed), broken compression, unknown
 * encodings, malformed and unknown protobuf. Every call ends with a status
 * and `x-eventide-code`; a well-behaved call afterwards is applied.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { gzipSync } from 'node:zlib';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { IngestRequest, IngestResponse, AckLevel } from '../../src/gen/eventide/v1/ingest.js';
import { Severity } from '../../src/gen/eventide/v1/event.js';
import { startTestServer } from '../helpers.js';
import { grpcFrame, rawGrpc, type GrpcAnswer } from './wire.js';

const DEADLINE_MS = 20_000;
const SEND = '/eventide.v1.Ingest/Send';
const STREAM = '/eventide.v1.Ingest/Stream';

function body(name: string, id?: string): Uint8Array {
  return IngestRequest.encode({
    // Stamped ahead: `accepted`, never `late` (an event stamped on arrival is late when its second ends before it is applied).
    events: [{ id: id ?? '', name, timestampMs: Date.now() + 2_000, severity: Severity.SEVERITY_UNSPECIFIED, tags: [], properties: new Map() }],
    batchId: '',
    ack: AckLevel.ACK_LEVEL_UNSPECIFIED,
    receiptsAll: false,
  }).finish();
}

function assertRefused(answer: GrpcAnswer, grpcStatus: GrpcStatus, code: string, what: string): void {
  assert.equal(answer.timedOut, false, `${what}: no answer`);
  assert.equal(answer.grpcStatus, grpcStatus, `${what}: status ${GrpcStatus[answer.grpcStatus]} (${String(answer.code)})`);
  assert.equal(answer.code, code, what);
}

void test('gRPC: every refusal before or outside the handler carries a status and x-eventide-code', async (t) => {
  const server = await startTestServer(t, { bodyBytesMax: 64 * 1024, bodyInflatedBytesMax: 64 * 1024, grpcMetadataBytesMax: 2048, grpcRequestTimeoutMs: 300 });
  // Closed by the test itself: a session still open when the server closes would be cut after its grace time.
  const session = http2.connect(`http://${server.grpcTarget}`);
  session.on('error', () => {});
  t.after(() => session.destroy());
  const auth = { authorization: `Bearer ${server.key}` };
  const call = (path: string, headers: Record<string, string>, data: Buffer[], end = true) => rawGrpc(session, path, { ...auth, ...headers }, data, { deadlineMs: DEADLINE_MS, end });

  assertRefused(await call(SEND, { 'x-junk': 'a'.repeat(4096) }, [grpcFrame(body('a'))]), GrpcStatus.INVALID_ARGUMENT, 'EVT_HEADERS_TOO_LARGE', 'metadata');
  assertRefused(await call(SEND, {}, [], false), GrpcStatus.DEADLINE_EXCEEDED, 'EVT_REQUEST_TIMEOUT', 'no message');
  assertRefused(await call(SEND, {}, [grpcFrame(new Uint8Array(70 * 1024))]), GrpcStatus.INVALID_ARGUMENT, 'EVT_BODY_TOO_LARGE', 'oversize');
  assertRefused(await call(SEND, {}, [grpcFrame(new Uint8Array(10), false, 0xffffffff)]), GrpcStatus.INVALID_ARGUMENT, 'EVT_BODY_TOO_LARGE', 'a length prefix of 4 GB');
  const bomb = gzipSync(new Uint8Array(8 * 1024 * 1024));
  assertRefused(await call(SEND, { 'grpc-encoding': 'gzip' }, [grpcFrame(bomb, true)]), GrpcStatus.INVALID_ARGUMENT, 'EVT_BODY_TOO_LARGE', 'compressed bomb');
  assertRefused(await call(SEND, { 'grpc-encoding': 'gzip' }, [grpcFrame(Buffer.from('not gzip at all'), true)]), GrpcStatus.INVALID_ARGUMENT, 'EVT_BODY_MALFORMED', 'broken gzip');
  assertRefused(await call(SEND, { 'grpc-encoding': 'br' }, [grpcFrame(body('a'), true)]), GrpcStatus.INVALID_ARGUMENT, 'EVT_UNSUPPORTED_MEDIA_TYPE', 'unknown encoding');
  assertRefused(await call(SEND, {}, [grpcFrame(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f]))]), GrpcStatus.INVALID_ARGUMENT, 'EVT_BODY_MALFORMED', 'truncated protobuf');
  assertRefused(await call(SEND, {}, [grpcFrame(new Uint8Array(60_000).fill(0x0b))]), GrpcStatus.INVALID_ARGUMENT, 'EVT_BODY_MALFORMED', 'nested groups');
  assertRefused(await call(SEND, { 'x-eventide-ack': 'maybe' }, [grpcFrame(body('a'))]), GrpcStatus.INVALID_ARGUMENT, 'EVT_REQUEST_MALFORMED', 'bad ack');
  assertRefused(await rawGrpc(session, SEND, { authorization: 'Bearer nope' }, [grpcFrame(body('a'))], { deadlineMs: DEADLINE_MS }), GrpcStatus.UNAUTHENTICATED, 'EVT_UNAUTHENTICATED', 'bad key');

  // Unknown fields are skipped: field 15 (a string) and field 99 (a varint) around a valid event.
  const unknown = Buffer.concat([Buffer.from([0x7a, 0x03, 0x61, 0x62, 0x63]), Buffer.from(body('known', 'u-1')), Buffer.from([0x98, 0x06, 0x2a])]);
  const accepted = await call(SEND, {}, [grpcFrame(unknown)]);
  assert.equal(accepted.grpcStatus, GrpcStatus.OK);
  assert.equal(IngestResponse.decode(accepted.data.subarray(5)).accepted, 1);
  // A gzip-compressed message is read like a plain one.
  const compressed = await call(SEND, { 'grpc-encoding': 'gzip' }, [grpcFrame(gzipSync(body('zipped', 'z-1')), true)]);
  assert.equal(compressed.grpcStatus, GrpcStatus.OK);
  assert.equal(IngestResponse.decode(compressed.data.subarray(5)).accepted, 1);
  session.close();
});

void test('gRPC: a stream that sends nothing while read is ended with EVT_REQUEST_TIMEOUT; a connection without calls is closed', async (t) => {
  const server = await startTestServer(t, { grpcIdleTimeoutMs: 1_000 });
  const session = http2.connect(`http://${server.grpcTarget}`);
  session.on('error', () => {});
  t.after(() => session.destroy());
  const sessionClosed = new Promise<void>((resolve) => session.once('close', () => resolve()));
  const idle = await rawGrpc(session, STREAM, { authorization: `Bearer ${server.key}` }, [], { deadlineMs: DEADLINE_MS, end: false });
  assertRefused(idle, GrpcStatus.DEADLINE_EXCEEDED, 'EVT_REQUEST_TIMEOUT', 'idle stream');
  // No call left on it: the server sends GOAWAY after grpcIdleTimeoutMs.
  await sessionClosed;
});
