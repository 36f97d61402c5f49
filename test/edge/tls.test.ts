/**
 * TLS on all three wires of a real server, with certificates made at test
 * time by openssl: HTTPS, wss and gRPC over TLS; mutual TLS when tlsCaFile
 * is set; a stalled handshake cut like slow headers; bad files refused at
 * start with EVT_CONFIG_INVALID.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { WebSocket } from 'ws';
import { IngestClient, IngestRequest, IngestResponse, AckLevel } from '../../src/gen/eventide/v1/ingest.js';
import { Severity } from '../../src/gen/eventide/v1/event.js';
import { configWith, startServer } from '../../src/server.js';
import { silentLogger } from '../../src/log.js';
import { startTestServer, tempDir, TEST_OVERRIDES } from '../helpers.js';
import type { EventideError } from '../../src/errors.js';

interface Pki {
  dir: string;
  ca: Buffer;
  serverCert: string;
  serverKey: string;
  caFile: string;
  clientCert: Buffer;
  clientKey: Buffer;
}

/** A CA, a server certificate for 127.0.0.1 / localhost and a client certificate, both signed by it. */
function makePki(t: TestContext): Pki {
  const dir = tempDir(t, 'eventide-tls-');
  const at = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=eventide-test-ca');
  writeFileSync(at('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(at('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    openssl('req', ...ec, '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who === 'server' ? 'localhost' : 'eventide-test-client'}`);
    openssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.pem`, '-days', '2', '-extfile', `${who}.ext`);
  }
  return {
    dir,
    ca: readFileSync(at('ca.pem')),
    serverCert: at('server.pem'),
    serverKey: at('server.key'),
    caFile: at('ca.pem'),
    clientCert: readFileSync(at('client.pem')),
    clientKey: readFileSync(at('client.key')),
  };
}

interface HttpsAnswer {
  status: number;
  body: Record<string, unknown>;
}

function httpsRequest(url: string, options: { method?: string; body?: string; headers?: Record<string, string>; ca: Buffer; cert?: Buffer; key?: Buffer }): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const request = https.request(url, { method: options.method ?? 'GET', headers: options.headers, ca: options.ca, cert: options.cert, key: options.key }, (response) => {
      const parts: Buffer[] = [];
      response.on('data', (chunk: Buffer) => parts.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(parts).toString() || '{}') as Record<string, unknown> }));
    });
    request.on('error', reject);
    request.end(options.body);
  });
}

function grpcSend(target: string, key: string, creds: ReturnType<typeof credentials.createSsl>, name: string): Promise<IngestResponse> {
  const client = new IngestClient(target, creds);
  const md = new Metadata();
  md.set('authorization', `Bearer ${key}`);
  const request: IngestRequest = {
    // Stamped ahead: `accepted`, never `late` (an event stamped on arrival is late when its second ends before it is applied).
    events: [{ id: `g-${name}`, name, timestampMs: Date.now() + 2_000, severity: Severity.SEVERITY_UNSPECIFIED, tags: [], properties: new Map() }],
    batchId: '',
    ack: AckLevel.ACK_LEVEL_UNSPECIFIED,
    receiptsAll: false,
  };
  return new Promise<IngestResponse>((resolve, reject) => {
    client.send(request, md, { deadline: Date.now() + 20_000 }, (err: ServiceError | null, res?: IngestResponse) => (err === null ? resolve(res!) : reject(err)));
  }).finally(() => client.close());
}

function wssSnapshot(url: string, options: { ca: Buffer; cert?: Buffer; key?: Buffer }): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.once('open', () => ws.send(JSON.stringify({ type: 'subscribe', resolution: '1m' })));
    ws.once('message', (data: Buffer) => {
      resolve(JSON.parse(data.toString()) as Record<string, unknown>);
      ws.close();
    });
    ws.once('error', reject);
  });
}

void test('TLS: HTTPS, wss and gRPC serve with the configured certificate; a stalled handshake is cut', async (t) => {
  const pki = makePki(t);
  const server = await startTestServer(t, { tlsCertFile: pki.serverCert, tlsKeyFile: pki.serverKey, httpHeadersTimeoutMs: 500 });
  assert.match(server.httpUrl, /^https:\/\//);
  assert.match(server.wsUrl, /^wss:\/\//);

  const posted = await httpsRequest(`${server.httpUrl}/v1/events`, {
    method: 'POST',
    body: JSON.stringify({ id: 'h-1', name: 'secure' }),
    headers: { authorization: `Bearer ${server.key}`, 'content-type': 'application/json' },
    ca: pki.ca,
  });
  assert.equal(posted.status, 200, JSON.stringify(posted.body));
  const sent = await grpcSend(server.grpcTarget, server.key, credentials.createSsl(pki.ca), 'secure');
  assert.equal(sent.accepted, 1);
  const snapshot = await wssSnapshot(`${server.wsUrl}?key=${server.key}`, { ca: pki.ca });
  assert.equal(snapshot.type, 'snapshot');

  // A client that does not trust the certificate is refused by its own TLS stack.
  await assert.rejects(httpsRequest(`${server.httpUrl}/livez`, { ca: Buffer.from('') }));
  // Plain gRPC to the TLS port fails; it does not get through.
  await assert.rejects(grpcSend(server.grpcTarget, server.key, credentials.createInsecure(), 'plain'));

  // Connect and never start the handshake: both ports close the connection.
  for (const port of [Number(new URL(server.httpUrl).port), Number(server.grpcTarget.split(':')[1])]) {
    const socket = net.connect({ port, host: '127.0.0.1' });
    await new Promise<void>((resolve) => {
      socket.on('error', () => {});
      socket.once('close', () => resolve());
    });
  }
});

void test('mutual TLS: with tlsCaFile, clients without a certificate it signed are refused on all three wires', async (t) => {
  const pki = makePki(t);
  const server = await startTestServer(t, { tlsCertFile: pki.serverCert, tlsKeyFile: pki.serverKey, tlsCaFile: pki.caFile });
  const withCert = { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey };

  const ok = await httpsRequest(`${server.httpUrl}/v1/events`, {
    method: 'POST',
    body: JSON.stringify({ id: 'm-1', name: 'mutual' }),
    headers: { authorization: `Bearer ${server.key}`, 'content-type': 'application/json' },
    ...withCert,
  });
  assert.equal(ok.status, 200);
  assert.equal((await grpcSend(server.grpcTarget, server.key, credentials.createSsl(pki.ca, pki.clientKey, pki.clientCert), 'mutual')).accepted, 1);
  assert.equal((await wssSnapshot(`${server.wsUrl}?key=${server.key}`, withCert)).type, 'snapshot');

  await assert.rejects(httpsRequest(`${server.httpUrl}/livez`, { ca: pki.ca }));
  await assert.rejects(grpcSend(server.grpcTarget, server.key, credentials.createSsl(pki.ca), 'anonymous'));
  await assert.rejects(wssSnapshot(`${server.wsUrl}?key=${server.key}`, { ca: pki.ca }));
});

void test('TLS settings: a certificate without a key, an unreadable file and a file that is not PEM stop the start', async (t) => {
  const pki = makePki(t);
  const codeOf = (err: unknown) => (err as EventideError).code;
  assert.throws(() => configWith({ ...TEST_OVERRIDES, tlsCertFile: pki.serverCert }), (err) => codeOf(err) === 'EVT_CONFIG_INVALID');
  assert.throws(() => configWith({ ...TEST_OVERRIDES, tlsCaFile: pki.caFile }), (err) => codeOf(err) === 'EVT_CONFIG_INVALID');
  const notPem = path.join(pki.dir, 'not.pem');
  writeFileSync(notPem, 'hello');
  for (const [cert, key, field] of [
    [path.join(pki.dir, 'missing.pem'), pki.serverKey, /tlsCertFile "[^"]+": cannot be read \(ENOENT\)/],
    [notPem, pki.serverKey, /not a usable certificate/],
    [pki.serverCert, path.join(pki.dir, 'client.key'), /not a usable certificate/],
  ] as const) {
    await assert.rejects(
      startServer({ ...TEST_OVERRIDES, dataDir: tempDir(t), devKey: false, tlsCertFile: cert, tlsKeyFile: key }, { log: silentLogger }),
      (err: unknown) => codeOf(err) === 'EVT_CONFIG_INVALID' && field.test((err as Error).message),
    );
  }
});
