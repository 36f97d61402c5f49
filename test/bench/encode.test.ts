import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unpack } from 'msgpackr';
import { IngestRequest } from '../../src/gen/eventide/v1/ingest.js';
import { createSlotValues, encodeBatch, patchBatch, setSlotValues } from '../../src/bench/encode.js';
import { buildTemplate, EVENT_DUPLICATE, EVENT_INVALID, EVENT_LATE, type WorkloadOptions } from '../../src/bench/workload.js';
import type { BodyFormat } from '../../src/actors/types.js';

const OPTIONS: WorkloadOptions = {
  seed: 7, owners: 3, ownerZipfS: 1, usersPerOwner: 50, eventNames: 5, eventBytes: 200, batchEvents: 60,
  templateCount: 2, duplicatePct: 10, latePct: 10, invalidPct: 10, skewPct: 100, lateByMs: 3000, skewMs: 30_000,
};
const NOW_MS = 1_760_000_000_123;

interface Decoded { id: string; name: string; timestamp: number; sentAt: number | undefined; userId: string }

function decode(format: BodyFormat, bytes: Uint8Array): Decoded[] {
  if (format === 'json') return (JSON.parse(Buffer.from(bytes).toString()) as { events: Decoded[] }).events;
  if (format === 'msgpack') return (unpack(bytes) as { events: Decoded[] }).events;
  return IngestRequest.decode(bytes).events.map((e) => ({
    id: e.id, name: e.name, timestamp: e.timestampMs!, sentAt: e.sentAtMs, userId: e.userId!,
  }));
}

for (const format of ['json', 'msgpack', 'protobuf'] as const) {
  void test(`${format}: a patched batch decodes to the template with the send's ids and times`, () => {
    const t = buildTemplate(OPTIONS, 0, 'rt', 3);
    const batch = encodeBatch(t.specs, format);
    const values = createSlotValues(format);
    for (const seq of [1, 987_654_321]) {
      setSlotValues(values, format, seq, NOW_MS, NOW_MS - 3000, NOW_MS + 1);
      patchBatch(batch, values);
      const events = decode(format, batch.bytes);
      assert.equal(events.length, OPTIONS.batchEvents);
      for (let i = 0; i < events.length; i++) {
        const e = events[i]!;
        const kind = t.meta.kind[i];
        assert.match(e.id, new RegExp(`^rt\\.3\\.${String(seq).padStart(12, '0')}-\\d{4}$`));
        assert.equal(e.timestamp, kind === EVENT_LATE ? NOW_MS - 3000 : NOW_MS);
        assert.equal(e.sentAt, NOW_MS + 1);
        assert.equal(e.name, kind === EVENT_INVALID ? '' : t.specs[i]!.name);
        assert.equal(e.userId, `u${t.meta.userIdx[i]}`);
        if (kind === EVENT_DUPLICATE) assert.ok(events.slice(0, i).some((p) => p.id === e.id));
      }
    }
  });
}

void test('json events are about eventBytes long', () => {
  const t = buildTemplate({ ...OPTIONS, skewPct: 0 }, 1, 'rt', 0);
  const batch = encodeBatch(t.specs, 'json');
  const perEvent = batch.bytes.length / OPTIONS.batchEvents;
  assert.ok(perEvent > 180 && perEvent < 230, `got ${perEvent}`);
});

void test('the same seed builds the same template', () => {
  const a = buildTemplate(OPTIONS, 1, 'rt', 0);
  const b = buildTemplate(OPTIONS, 1, 'rt', 0);
  assert.deepEqual(a.specs, b.specs);
  assert.notDeepEqual(buildTemplate({ ...OPTIONS, seed: 8 }, 1, 'rt', 0).specs, a.specs);
});
