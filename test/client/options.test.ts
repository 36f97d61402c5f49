/**
 * createClient's options: every bad one throws EVT_CLIENT_OPTION naming
 * itself; the defaults are the documented ones. Nothing here connects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT_DEFAULTS, ClientOptionError, createClient, type ClientOptions } from '../../src/client/index.js';
import { resolveOptions } from '../../src/client/options.js';

const BASE = { url: 'http://127.0.0.1:8080', key: 'evt_key' } as const;

function throwsOption(options: unknown, field: string): void {
  assert.throws(
    () => createClient(options as ClientOptions),
    (err: unknown) => err instanceof ClientOptionError && err.code === 'EVT_CLIENT_OPTION' && err.field === field,
    `expected EVT_CLIENT_OPTION on ${field}`,
  );
}

void test('defaults: http transport, the documented limits, frozen', () => {
  const o = resolveOptions(BASE);
  assert.equal(o.transport, 'http');
  assert.equal(o.eventsUrl, 'http://127.0.0.1:8080/v1/events');
  assert.equal(o.batchEventsMax, CLIENT_DEFAULTS.batchEventsMax);
  assert.equal(o.batchBytesMax, 1024 * 1024);
  assert.equal(o.lingerMs, 100);
  assert.equal(o.bufferEventsMax, 100_000);
  assert.equal(o.dropPolicy, 'reject');
  assert.deepEqual(o.retry, { attemptsMax: 10, baseMs: 100, maxMs: 10_000, retryAfterMsMax: 60_000 });
  assert.ok(Object.isFrozen(o) && Object.isFrozen(o.retry));
});

void test('the transport follows the address given; a path prefix is kept', () => {
  assert.equal(resolveOptions({ grpcTarget: 'localhost:50051', key: 'k' }).transport, 'grpc');
  assert.equal(resolveOptions({ grpcTarget: 'localhost:50051', key: 'k' }).format, 'protobuf');
  assert.equal(resolveOptions({ ...BASE, url: 'https://ingest.example/eventide/' }).eventsUrl, 'https://ingest.example/eventide/v1/events');
});

void test('each bad option names itself', () => {
  throwsOption(null, 'options');
  throwsOption({ ...BASE, key: '' }, 'key');
  throwsOption({ ...BASE, key: 'a b' }, 'key');
  throwsOption({ key: 'k' }, 'url');
  throwsOption({ ...BASE, url: 'not a url' }, 'url');
  throwsOption({ ...BASE, url: 'ftp://host' }, 'url');
  throwsOption({ ...BASE, url: 'http://host/?a=1' }, 'url');
  throwsOption({ key: 'k', transport: 'grpc' }, 'grpcTarget');
  throwsOption({ key: 'k', grpcTarget: 'no-port' }, 'grpcTarget');
  throwsOption({ key: 'k', grpcTarget: 'h:1', format: 'json' }, 'format');
  throwsOption({ ...BASE, transport: 'smtp' }, 'transport');
  throwsOption({ ...BASE, ack: 'eventually' }, 'ack');
  throwsOption({ ...BASE, format: 'xml' }, 'format');
  throwsOption({ ...BASE, httpImpl: 'curl' }, 'httpImpl');
  throwsOption({ ...BASE, grpcMode: 'batch' }, 'grpcMode');
  throwsOption({ ...BASE, batchEventsMax: 0 }, 'batchEventsMax');
  throwsOption({ ...BASE, batchEventsMax: 1.5 }, 'batchEventsMax');
  throwsOption({ ...BASE, batchBytesMax: 10 }, 'batchBytesMax');
  throwsOption({ ...BASE, lingerMs: -1 }, 'lingerMs');
  throwsOption({ ...BASE, gzip: 'yes' }, 'gzip');
  throwsOption({ ...BASE, gzipBytesMin: Number.NaN }, 'gzipBytesMin');
  throwsOption({ ...BASE, bufferEventsMax: 0 }, 'bufferEventsMax');
  throwsOption({ ...BASE, bufferBytesMax: '1mb' }, 'bufferBytesMax');
  throwsOption({ ...BASE, dropPolicy: 'drop-newest' }, 'dropPolicy');
  throwsOption({ ...BASE, requestsInFlightMax: 0 }, 'requestsInFlightMax');
  throwsOption({ ...BASE, requestTimeoutMs: 0 }, 'requestTimeoutMs');
  throwsOption({ ...BASE, retry: 3 }, 'retry');
  throwsOption({ ...BASE, retry: { attemptsMax: 0 } }, 'retry.attemptsMax');
  throwsOption({ ...BASE, retry: { baseMs: 0 } }, 'retry.baseMs');
  throwsOption({ ...BASE, retry: { baseMs: 500, maxMs: 100 } }, 'retry.maxMs');
  throwsOption({ ...BASE, retry: { retryAfterMsMax: -1 } }, 'retry.retryAfterMsMax');
  throwsOption({ ...BASE, retry: { attempts: 3 } }, 'retry.attempts');
  throwsOption({ ...BASE, stampTimestamp: 1 }, 'stampTimestamp');
  throwsOption({ ...BASE, onError: 'log' }, 'onError');
  throwsOption({ ...BASE, onReceipts: {} }, 'onReceipts');
  // A misspelt option is an error, not a silent default.
  throwsOption({ ...BASE, lingerMS: 5 }, 'lingerMS');
});
