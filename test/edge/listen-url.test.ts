/**
 * The URLs a server reports must be dialable: IPv6 literals in brackets,
 * unspecified bind addresses turned into loopback. Checked on real servers
 * bound to `::1` and `::`, whose reported URLs must answer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bindHost, dialHost } from '../../src/edge/listen-url.js';
import { postEvents, startTestServer } from '../helpers.js';

void test('dialHost: brackets for IPv6 literals, loopback for the unspecified addresses, names as they are', () => {
  assert.equal(dialHost('::1'), '[::1]');
  assert.equal(dialHost('fe80::1'), '[fe80::1]');
  assert.equal(dialHost('::'), '[::1]');
  assert.equal(dialHost('0.0.0.0'), '127.0.0.1');
  assert.equal(dialHost('127.0.0.1'), '127.0.0.1');
  assert.equal(dialHost('localhost'), 'localhost');
  assert.equal(dialHost('[::1]'), '[::1]');
  assert.equal(bindHost('::'), '[::]');
  assert.equal(bindHost('0.0.0.0'), '0.0.0.0');
});

for (const host of ['::1', '::']) {
  void test(`a server bound to ${host} reports URLs that answer (HTTP and ws URL shape)`, async (t) => {
    const server = await startTestServer(t, { host });
    assert.match(server.httpUrl, /^http:\/\/\[::1\]:\d+$/);
    assert.match(server.wsUrl, /^ws:\/\/\[::1\]:\d+\/v1\/stream$/);
    assert.match(server.grpcTarget, /^\[::1\]:\d+$/);
    assert.equal((await fetch(`${server.httpUrl}/livez`)).status, 200);
    const posted = await postEvents(server, server.key, JSON.stringify({ name: 'ipv6' }));
    assert.equal(posted.status, 200);
  });
}
