/**
 * An https:// URL: the client speaks TLS (node:https, or fetch) to a real TLS
 * terminator in front of the server, trusting a private CA the way an
 * application does, through NODE_EXTRA_CA_CERTS. The client runs in a child
 * process because Node reads that variable at start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startTestServer, tempDir } from '../helpers.js';
import { portOf, serverTotals } from './helpers.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function selfSignedCert(dir: string): { key: string; cert: string } {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { key, cert };
}

for (const httpImpl of ['node', 'fetch'] as const) {
  void test(`https with ${httpImpl}: events reach the server through TLS`, async (t) => {
    const server = await startTestServer(t);
    const { key, cert } = selfSignedCert(tempDir(t));
    const terminator = tls.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (socket) => {
      const upstream = net.connect(portOf(server.httpUrl), '127.0.0.1');
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve) => terminator.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => terminator.close(() => resolve())));
    const port = (terminator.address() as net.AddressInfo).port;

    const script = `
const { createClient } = await import('eventide/client');
const client = createClient({ url: 'https://127.0.0.1:${port}', key: ${JSON.stringify(server.key)}, httpImpl: '${httpImpl}',
  retry: { attemptsMax: 1 }, onError: (err) => { console.error(err.code, err.cause ?? err.message); } });
client.send(Array.from({ length: 12 }, (_, i) => ({ name: 'tls', userId: 'u' + i })));
await client.close();
process.stdout.write(JSON.stringify(client.stats()));
`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: ROOT,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: cert },
    });
    const stats = JSON.parse(stdout) as { accepted: number; late: number; refusals: number };
    assert.equal(stats.accepted + stats.late, 12, stdout);
    assert.equal((await serverTotals(server, server.key)).total, 12);
  });
}
