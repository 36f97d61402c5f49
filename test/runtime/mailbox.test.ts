import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Mailboxes } from '../../src/runtime/mailbox.js';
import { RETRY_AFTER_MS_MAX, RETRY_AFTER_MS_MIN } from '../../src/runtime/errors.js';

const options = { shardCount: 4, workerCount: 2, mailboxBatchesMax: 2, workerBatchesMax: 3 };

test('offer refuses once mailboxBatchesMax is reached for a shard', () => {
  const mailboxes = new Mailboxes(options);
  assert.equal(mailboxes.offer(0, 0), true);
  assert.equal(mailboxes.offer(0, 0), true);
  assert.equal(mailboxes.offer(0, 0), false);
  assert.equal(mailboxes.refusedCount, 1);
  assert.equal(mailboxes.shardDepth(0), 2);
});

test('offer refuses once workerBatchesMax is reached across shards', () => {
  const mailboxes = new Mailboxes(options);
  assert.equal(mailboxes.offer(0, 0), true);
  assert.equal(mailboxes.offer(0, 0), true);
  assert.equal(mailboxes.offer(2, 0), true);
  assert.equal(mailboxes.offer(2, 0), false, 'worker 0 holds 3 batches');
  assert.equal(mailboxes.offer(1, 1), true, 'another worker is not affected');
  assert.equal(mailboxes.workerDepth(0), 3);
});

test('settle frees room and refused offers do not count as in flight', () => {
  const mailboxes = new Mailboxes(options);
  mailboxes.offer(0, 0);
  mailboxes.offer(0, 0);
  mailboxes.offer(0, 0);
  mailboxes.settle(0, 0, 5);
  assert.equal(mailboxes.shardDepth(0), 1);
  assert.equal(mailboxes.offer(0, 0), true);
});

test('settle without a matching offer is a bug and throws', () => {
  const mailboxes = new Mailboxes(options);
  assert.throws(() => mailboxes.settle(1, 1));
});

test('retryAfterMs grows with the backlog and the measured service time, within its clamp', () => {
  const mailboxes = new Mailboxes({ ...options, mailboxBatchesMax: 1000, workerBatchesMax: 1000 });
  assert.equal(mailboxes.retryAfterMs(0), RETRY_AFTER_MS_MIN, 'an empty worker still asks for the minimum');
  for (let i = 0; i < 200; i++) mailboxes.offer(0, 0);
  for (let i = 0; i < 100; i++) {
    mailboxes.settle(0, 0, 50);
    mailboxes.offer(0, 0);
  }
  const slow = mailboxes.retryAfterMs(0);
  assert.ok(slow > 5_000, `200 batches at ~50 ms each should take seconds, got ${slow}`);
  for (let i = 0; i < 700; i++) mailboxes.offer(2, 0);
  assert.equal(mailboxes.retryAfterMs(0), RETRY_AFTER_MS_MAX);
});
