/**
 * The one-pass JSON reader (src/actors/json-fast.ts) against what it stands
 * in for: the structure scan and JSON.parse. Whenever it returns a value, the
 * scan must have let the body through, JSON.parse must accept it, and the two
 * values must be the same for everything the validator reads (every schema
 * field of every event, the properties in their order, the envelope's other
 * members). Whenever it gives up, decode.ts runs the old passes, so giving up
 * is always safe; the tests also pin the bodies it must read itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertSameForValidator, FIELDS, rng } from './fast-read-helpers.js';
import { readJsonFast, stopsWord } from '../../src/actors/json-fast.js';
import { scanJson } from '../../src/actors/scan.js';
import { fastReadLimits, type FastReadLimits } from '../../src/actors/fast-read.js';
import { decodeBody, type DecodeLimits } from '../../src/actors/decode.js';

const LIMITS: DecodeLimits = {
  bodyInflatedBytesMax: 1 << 24,
  batchEventsMax: 500,
  idCharsMax: 128,
  bodyDepthMax: 8,
  tagsMax: 16,
  propertiesMax: 32,
};
const STRUCTURE: FastReadLimits = fastReadLimits(LIMITS);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

const bytesOf = (text: string): Buffer => Buffer.from(text, 'utf8');

/**
 * The property the reader promises: a value only for bodies the scan and
 * JSON.parse accept, and then the same value. Returns whether it read the body.
 */
function checkAgainstParse(bytes: Buffer, label: string): boolean {
  const fast = readJsonFast(bytes, STRUCTURE);
  if (fast === undefined) return false;
  assert.equal(scanJson(bytes, STRUCTURE), undefined, `${label}: read a body the scan refuses`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(strictUtf8.decode(bytes));
  } catch (err) {
    assert.fail(`${label}: read a body JSON.parse refuses (${String(err)}): ${bytes.toString('latin1').slice(0, 200)}`);
  }
  assertSameForValidator(fast, parsed, label);
  return true;
}

const STRING_PARTS = ['a', 'page_view', 'é', '日本', '😀', '\\"', '\\\\', '\\n', '\\u00e9', '\\ud83d\\ude00', '\\/', 'x'.repeat(40), ' ', '\\t'];
const NUMBERS = ['0', '-0', '1', '-17', '1700000000123', '9007199254740993', '123456789012345678901234', '0.5', '-2.25', '1e3', '1E-7', '6.02e+23', '1e400', '-1e400', '0.1', '3.000'];

function randomString(r: () => number): string {
  let s = '';
  const parts = Math.floor(r() * 4);
  for (let i = 0; i < parts; i++) s += STRING_PARTS[Math.floor(r() * STRING_PARTS.length)]!;
  return `"${s}"`;
}

function randomScalar(r: () => number): string {
  const k = r();
  if (k < 0.5) return randomString(r);
  if (k < 0.85) return NUMBERS[Math.floor(r() * NUMBERS.length)]!;
  return ['true', 'false', 'null'][Math.floor(r() * 3)]!;
}

function ws(r: () => number): string {
  return r() < 0.8 ? '' : [' ', '\n', '\t', '\r\n  '][Math.floor(r() * 4)]!;
}

function randomValue(r: () => number, depth: number): string {
  const k = r();
  if (depth > 0 && k < 0.1) return `[${Array.from({ length: Math.floor(r() * 3) }, () => randomValue(r, depth - 1)).join(',')}]`;
  if (depth > 0 && k < 0.2) return `{${Array.from({ length: Math.floor(r() * 3) }, () => `${randomString(r)}:${randomValue(r, depth - 1)}`).join(',')}}`;
  return randomScalar(r);
}

const KEYS = [...FIELDS, 'pad', 'extra', 'n\\u0061me', 'tags', 'ïd', '__proto__', 'constructor', '0', '10', '2'];

function randomEvent(r: () => number): string {
  const members: string[] = [];
  const count = Math.floor(r() * 12);
  for (let i = 0; i < count; i++) {
    const key = KEYS[Math.floor(r() * KEYS.length)]!;
    let value: string;
    if (key === 'tags') value = `[${Array.from({ length: Math.floor(r() * 4) }, () => (r() < 0.9 ? randomString(r) : randomScalar(r))).join(`,${ws(r)}`)}]`;
    else if (key === 'properties') {
      // Mostly small, sometimes large (13 to 32 members).
      value = `{${Array.from({ length: r() < 0.15 ? 13 + Math.floor(r() * 20) : Math.floor(r() * 5) }, () => `${ws(r)}"${KEYS[Math.floor(r() * KEYS.length)]!}"${ws(r)}:${ws(r)}${randomValue(r, 1)}`).join(',')}}`;
    } else value = randomValue(r, 2);
    members.push(`${ws(r)}"${key}"${ws(r)}:${ws(r)}${value}${ws(r)}`);
  }
  return `{${members.join(',')}}`;
}

function randomBody(r: () => number): string {
  const events = Array.from({ length: 1 + Math.floor(r() * 6) }, () => (r() < 0.95 ? randomEvent(r) : randomValue(r, 1)));
  const list = `[${ws(r)}${events.join(`,${ws(r)}`)}${ws(r)}]`;
  const k = r();
  if (k < 0.5) return `${ws(r)}${list}${ws(r)}`;
  const extra = r() < 0.5 ? `,"batchId":${randomScalar(r)}` : '';
  const other = r() < 0.3 ? `,"meta":${randomValue(r, 2)}` : '';
  return k < 0.75 ? `{"events":${list}${extra}${other}}` : `{${other.slice(1)}${other ? ',' : ''}"events":${ws(r)}${list}${extra}}`;
}

void test('reads the bodies clients send, to what JSON.parse gives: arrays, envelopes, escapes, UTF-8, every number form', () => {
  const bodies = [
    '[{"id":"e1","name":"page_view","timestamp":1700000000000,"userId":"u1","category":"web","severity":"info","tags":["a","b"],"properties":{"path":"/x","n":3,"ok":true},"value":2.5}]',
    ' {\n "events" : [ { "name" : "a" } , {"name":"b","extra":{"deep":[1,{"x":null}]}} ] , "batchId" : "b-1" }\n',
    '{"batchId":"first","events":[{"name":"caf\\u00e9 \\"q\\"","properties":{"title":"Café — ünïcødé 😀","10":1,"2":2,"a":3,"a":4}}]}',
    '[{"name":"n","timestamp":-0,"value":1e400,"properties":{"big":123456789012345678901234,"f":6.02e+23,"g":-1E-7}}]',
    '[{"name":"x"},7,"s",null,[1,2],{}]',
    '{"events":[],"batchId":"empty"}',
    '[]',
  ];
  for (const [i, text] of bodies.entries()) assert.ok(checkAgainstParse(bytesOf(text), `body ${i}`), `body ${i} must be read in one pass: ${text}`);
  // A repeated key: its first place, its last value, as JSON.parse.
  const fast = readJsonFast(bytesOf('[{"name":"a","properties":{"k":1,"j":2,"k":3},"name":"b"}]'), STRUCTURE) as Array<Record<string, unknown>>;
  assert.equal(fast[0]!.name, 'b');
  assert.deepEqual(Object.entries(fast[0]!.properties as object), [['k', 3], ['j', 2]]);
});

void test('decimals are the doubles JSON.parse gives, bit for bit, on the exact path and past it', () => {
  // Every split of up to 17 integer digits and 25 fraction digits, leading zeros, signs, long runs of 9s
  // (they round up), values around 2^53: the exact path takes <= 15 significant digits and <= 22 fraction digits.
  let seed = 0x2545f491;
  const r = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const digits = (n: number, first: string): string => {
    let out = first;
    for (let i = out.length; i < n; i++) out += r() < 0.2 ? '9' : r() < 0.2 ? '0' : String(Math.floor(r() * 10));
    return out;
  };
  const texts: string[] = ['0.0', '-0.0', '0.05', '-0.000', '523.17', '0.1', '0.2', '0.3', '1.005', '9007199254740.993', '999999999999999.9', '0.9999999999999999', '123456789012345.6', '0.0000000000000000000001', '0.00000000000000000000001'];
  for (let i = 0; i < 20_000; i++) {
    const intDigits = Math.floor(r() * 18);
    const fracDigits = 1 + Math.floor(r() * 25);
    const int = intDigits === 0 ? '0' : digits(intDigits, String(1 + Math.floor(r() * 9)));
    const frac = digits(fracDigits, r() < 0.3 ? '0' : '');
    texts.push(`${r() < 0.3 ? '-' : ''}${int}.${frac}`);
  }
  const body = `[{"name":"n","properties":{${texts.map((t, i) => `"k${i}":${t}`).join(',')}}}]`;
  const fast = readJsonFast(bytesOf(body), { ...STRUCTURE, itemsMax: texts.length + 1, valuesMax: 4 * texts.length }) as Array<{ properties: Record<string, number> }>;
  assert.ok(fast !== undefined, 'read in one pass');
  const props = fast[0]!.properties;
  for (const [i, text] of texts.entries()) assert.ok(Object.is(props[`k${i}`], JSON.parse(text)), `${text}: ${props[`k${i}`]} vs ${JSON.parse(text)}`);
});

void test('gives up on what only the scan and JSON.parse may answer, so their errors reach the client', () => {
  const eventsMax = (n: number) => `[${Array.from({ length: n }, () => '{"name":"a"}').join(',')}]`;
  const cases: Array<[string, string | Buffer]> = [
    ['one event, not a batch', '{"name":"a"}'],
    ['an empty object', '{}'],
    ['no events member', '{"batchId":"x"}'],
    ['events twice', '{"events":[],"events":[]}'],
    ['events not an array', '{"events":{"name":"a"}}'],
    ['__proto__ in properties', '[{"name":"a","properties":{"__proto__":{"x":1}}}]'],
    ['__proto__ in the envelope', '{"__proto__":1,"events":[]}'],
    ['a byte-order mark', '\uFEFF[{"name":"a"}]'],
    ['a control character in a string', '[{"name":"a\u0001"}]'],
    ['a raw line feed in a string', '[{"name":"a\nb"}]'],
    ['a bad escape', '[{"name":"a\\x"}]'],
    ['a lone backslash at the end', '[{"name":"a\\'],
    ['trailing bytes', '[{"name":"a"}] x'],
    ['two bodies', '[][]'],
    ['a trailing comma', '[{"name":"a"},]'],
    ['a trailing comma in an object', '[{"name":"a",}]'],
    ['a leading zero', '[{"name":"a","value":01}]'],
    ['a plus sign', '[{"name":"a","value":+1}]'],
    ['a bare dot', '[{"name":"a","value":1.}]'],
    ['an exponent without digits', '[{"name":"a","value":1e}]'],
    ['NaN', '[{"name":"a","value":NaN}]'],
    ['a single quote', "[{'name':'a'}]"],
    ['truncated', '[{"name":"a"'],
    ['too deep', `[{"name":"a","properties":{"x":${'['.repeat(10)}${']'.repeat(10)}}}]`],
    ['more events than batchEventsMax', eventsMax(LIMITS.batchEventsMax + 1)],
    ['invalid UTF-8 in a string', Buffer.concat([bytesOf('[{"name":"'), Buffer.from([0xc3, 0x28]), bytesOf('"}]')])],
    ['a non-ASCII byte outside a string', Buffer.concat([bytesOf('[{"name":"a"}'), Buffer.from([0xc2, 0xa0]), bytesOf(']')])],
  ];
  for (const [label, body] of cases) {
    const bytes = typeof body === 'string' ? bytesOf(body) : body;
    assert.equal(readJsonFast(bytes, STRUCTURE), undefined, label);
  }
  // The limit itself is read: batchEventsMax events exactly.
  assert.ok(checkAgainstParse(bytesOf(eventsMax(LIMITS.batchEventsMax)), 'batchEventsMax events'));
});

void test('gives up past the scan limits: values and depth are counted as the scan counts them', () => {
  const tight: FastReadLimits = { depthMax: 3, valuesMax: 10, eventsMax: 5, itemsMax: 100 };
  // 1 array + 2 events + 1 comma + their 2 properties objects + 2 commas = 8 values, depth 3: read.
  const ok = bytesOf('[{"name":"a","properties":{"k":1}},{"name":"b","properties":{"k":2}}]');
  assert.notEqual(readJsonFast(ok, tight), undefined);
  assert.equal(scanJson(ok, tight), undefined);
  for (const [label, text] of [
    ['depth 4', '[{"name":"a","properties":{"k":[1]}}]'],
    ['11 values', '[{"name":"a","tags":[1,2,3,4,5,6,7,8]}]'],
    ['6 events', '[1,2,3,4,5,6]'],
  ] as const) {
    assert.equal(readJsonFast(bytesOf(text), tight), undefined, label);
    assert.notEqual(scanJson(bytesOf(text), tight), undefined, `${label}: the scan refuses it too`);
  }
});

void test('gives up on any container but the events array with more than itemsMax items, and reads one of exactly itemsMax', () => {
  const limits: FastReadLimits = { ...STRUCTURE, itemsMax: 8 };
  const props = (n: number) => JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])));
  const tags = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => `t${i}`));
  assert.ok(readJsonFast(bytesOf(`[{"name":"a","properties":${props(8)},"tags":${tags(8)}}]`), limits) !== undefined);
  assert.equal(readJsonFast(bytesOf(`[{"name":"a","properties":${props(9)}}]`), limits), undefined, 'properties');
  assert.equal(readJsonFast(bytesOf(`[{"name":"a","tags":${tags(9)}}]`), limits), undefined, 'tags');
  assert.equal(readJsonFast(bytesOf(`[{"name":"a","extra":${props(9)}}]`), limits), undefined, 'an unknown member');
  assert.equal(readJsonFast(bytesOf(`{"events":[],${props(9).slice(1)}`), limits), undefined, 'the envelope');
  // Short arrays are built at their size: the bound holds at every length, each read equal to JSON.parse.
  for (const max of [1, 2, 3, 4, 5]) {
    const tight = { ...STRUCTURE, itemsMax: max };
    for (let n = 0; n <= max; n++) {
      // One member per object (objects count against itemsMax too); nested arrays of one and two items inside.
      const nested = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? `[${i}]` : `[${i},"${i}"]`)).join(',');
      for (const text of [`[{"tags":${tags(n)}}]`, `[{"properties":{"x":[${nested}]}}]`]) {
        const fast = readJsonFast(bytesOf(text), tight);
        assert.ok(fast !== undefined, `itemsMax ${max}, ${n} items: read ${text}`);
        assertSameForValidator(fast, JSON.parse(text), `itemsMax ${max}, ${n} items: ${text}`);
      }
    }
    assert.equal(readJsonFast(bytesOf(`[{"name":"a","tags":${tags(max + 1)}}]`), tight), undefined, `itemsMax ${max}: ${max + 1} tags`);
  }
  // The events array is bounded by eventsMax only.
  assert.ok(readJsonFast(bytesOf(JSON.stringify(Array.from({ length: 20 }, () => ({ name: 'a' })))), limits) !== undefined);
  // A hostile object of many keys is left to the scan, which refuses it (values).
  const hostile = bytesOf(`[{"name":"a","properties":${props(100_000)}}]`);
  assert.equal(readJsonFast(hostile, STRUCTURE), undefined);
  assert.throws(() => decodeBody(hostile, 'json', 'identity', LIMITS), { code: 'EVT_BODY_MALFORMED' });
});

void test('3,000 seeded random bodies: every one it reads equals JSON.parse; most are read', () => {
  const r = rng(20261122);
  let read = 0;
  for (let i = 0; i < 3_000; i++) {
    const text = randomBody(r);
    if (checkAgainstParse(bytesOf(text), `body ${i}: ${text.slice(0, 300)}`)) read++;
  }
  // Only bodies with __proto__ in an object it builds key by key, or an odd envelope, are left to the old passes.
  assert.ok(read > 2_000, `read ${read} of 3,000`);
});

void test('4,000 seeded byte mutations of a valid body: it reads only what the scan and JSON.parse accept, as they read it', () => {
  const r = rng(7);
  const base = bytesOf(
    '{"events":[{"id":"e-1","name":"page_view","timestamp":1700000000000,"userId":"u-1","category":"web","severity":"info",' +
      '"tags":["mobile","eu"],"properties":{"path":"/p/1","n":42,"ok":true,"f":-2.5e3},"value":0.25},' +
      '{"name":"caf\\u00e9 ü","properties":{"t":"x\\"y"}}],"batchId":"b"}',
  );
  const alphabet = Buffer.from('{}[]",:\\ 0123456789-+.eEtrufalsn\u0001\u00ff');
  const heavy = bytesOf(
    `[{"name":"a","properties":{${Array.from({ length: 16 }, (_, i) => `"k${i}":${i % 2 === 0 ? `"v\\"${i}é"` : `[${i},{"n":null}]`}`).join(',')}}}]`,
  );
  let read = 0;
  for (let i = 0; i < 4_000; i++) {
    const bytes = Buffer.from(i % 2 === 0 ? base : heavy);
    const edits = 1 + Math.floor(r() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(r() * bytes.length);
      bytes[at] = r() < 0.7 ? alphabet[Math.floor(r() * alphabet.length)]! : Math.floor(r() * 256);
    }
    if (checkAgainstParse(bytes, `mutation ${i}: ${bytes.toString('latin1')}`)) read++;
  }
  assert.ok(read > 100, `some mutations stay valid JSON and are read (${read})`);
});

void test('decodeBody answers the same with or without the one-pass reader: values, and errors from the old passes', () => {
  // Bodies the reader gives up on still get the scan's and JSON.parse's answers.
  assert.throws(() => decodeBody(bytesOf('[{"name":"a"},]'), 'json', 'identity', LIMITS), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'EVT_BODY_MALFORMED');
    assert.match(err.message, /^json: Unexpected token/);
    return true;
  });
  const tooMany = bytesOf(`[${Array.from({ length: LIMITS.batchEventsMax + 1 }, () => '{"name":"a"}').join(',')}]`);
  assert.throws(() => decodeBody(tooMany, 'json', 'identity', LIMITS), { code: 'EVT_BATCH_TOO_LONG' });
  assert.throws(() => decodeBody(bytesOf('[]'), 'json', 'identity', LIMITS), { code: 'EVT_BATCH_EMPTY' });
  assert.throws(() => decodeBody(bytesOf('{"events":[{"name":"a"}],"batchId":7}'), 'json', 'identity', LIMITS), { code: 'EVT_BODY_MALFORMED' });
  const single = decodeBody(bytesOf('{"name":"a"}'), 'json', 'identity', LIMITS);
  assert.equal(single.single, true);
  const batch = decodeBody(bytesOf('{"events":[{"name":"a","pad":1}],"batchId":"b-7"}'), 'json', 'identity', LIMITS);
  assert.equal(batch.batchId, 'b-7');
  assert.equal(batch.single, false);
  assert.equal((batch.events[0] as { name: string }).name, 'a');
});

void test('the string cache never serves another string: 20,000 short strings through 4,096 slots', () => {
  const r = rng(99);
  for (let round = 0; round < 50; round++) {
    const names = Array.from({ length: 400 }, () => Math.floor(r() * 2 ** 32).toString(36).slice(0, 1 + Math.floor(r() * 7)));
    const body = bytesOf(JSON.stringify(names.map((name) => ({ name, category: name.toUpperCase(), tags: [name, `${name}!`] }))));
    const events = readJsonFast(body, STRUCTURE) as Array<{ name: string; category: string; tags: string[] }>;
    assert.ok(events !== undefined);
    for (let i = 0; i < names.length; i++) {
      assert.equal(events[i]!.name, names[i]);
      assert.equal(events[i]!.category, names[i]!.toUpperCase());
      assert.deepEqual(events[i]!.tags, [names[i], `${names[i]}!`]);
    }
  }
});

void test('stopsWord finds a quote, backslash, control or high byte anywhere in a word, and nothing else', () => {
  const stop = (c: number): boolean => c < 0x20 || c === 0x22 || c === 0x5c || c >= 0x80;
  const word = (bytes: number[]): number => bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! * 2 ** 24);
  // Every byte value at every position, among plain bytes of every kind around it.
  for (const fill of [0x20, 0x21, 0x23, 0x41, 0x5b, 0x5d, 0x7f]) {
    for (let at = 0; at < 4; at++) {
      for (let c = 0; c < 256; c++) {
        const bytes = [fill, fill, fill, fill];
        bytes[at] = c;
        assert.equal(stopsWord(word(bytes)), stop(c), `byte ${c} at ${at} among ${fill}`);
      }
    }
  }
  // Random words, half of them made of bytes near the edges of the stop ranges.
  const r = rng(99);
  const near = [0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7e, 0x7f, 0x80, 0x81, 0xfe, 0xff];
  for (let i = 0; i < 200_000; i++) {
    const bytes = Array.from({ length: 4 }, () => (r() < 0.5 ? near[Math.floor(r() * near.length)]! : Math.floor(r() * 256)));
    assert.equal(stopsWord(word(bytes)), bytes.some(stop), `bytes ${bytes.join(',')}`);
  }
});
