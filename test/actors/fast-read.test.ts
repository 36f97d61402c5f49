/**
 * The readers' string cache (src/actors/fast-read.ts fromCache): it may only
 * ever return a string equal to the bytes asked for, whatever a slot held
 * before; the word check (with a DataView) and the byte check agree.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cachedAscii, fromCache, SHORT_STRING_BYTES_MAX, WORD_KEY_BYTES_MAX } from '../../src/actors/fast-read.js';

void test('a slot holding other bytes of the same length is never returned: every length, a difference at every place, at any offset', () => {
  for (let length = 0; length <= SHORT_STRING_BYTES_MAX; length++) {
    const text = Array.from({ length }, (_, i) => String.fromCharCode(0x41 + ((i * 7) % 26))).join('');
    for (const offset of [0, 1, 3]) {
      const b = Buffer.alloc(offset + length + 4, 0x20);
      b.write(text, offset, 'latin1');
      const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
      for (const withView of [false, true]) {
        // The same h (and so the same slot) for every query: only the check tells them apart.
        const h = 0x5bd1e995 ^ length;
        assert.equal(fromCache(b, offset, offset + length, h, withView ? view : undefined), text);
        assert.equal(fromCache(b, offset, offset + length, h, withView ? view : undefined), text, 'a hit');
        for (let at = 0; at < length; at++) {
          const other = Buffer.from(b);
          other[offset + at] = other[offset + at]! + 1;
          const otherView = new DataView(other.buffer, other.byteOffset, other.byteLength);
          const expected = other.toString('latin1', offset, offset + length);
          assert.equal(fromCache(other, offset, offset + length, h, withView ? otherView : undefined), expected, `length ${length}, byte ${at}, offset ${offset}, view ${withView}`);
          // And back: the slot now holds the other text.
          assert.equal(fromCache(b, offset, offset + length, h, withView ? view : undefined), text);
        }
      }
    }
  }
});

void test('cachedAscii: the text of ASCII bytes, the same object on a hit; undefined when any byte is not ASCII', () => {
  for (let length = 1; length <= SHORT_STRING_BYTES_MAX; length++) {
    const text = Array.from({ length }, (_, i) => String.fromCharCode(0x61 + ((i * 5) % 26))).join('');
    const b = Buffer.from(`..${text}..`, 'latin1');
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const first = cachedAscii(b, view, 2, 2 + length);
    assert.equal(first, text);
    assert.equal(cachedAscii(Buffer.from(b), view, 2, 2 + length), text);
    for (let at = 0; at < length; at++) {
      const wide = Buffer.from(b);
      wide[2 + at] = 0xc3;
      assert.equal(cachedAscii(wide, new DataView(wide.buffer, wide.byteOffset, wide.byteLength), 2, 2 + length), undefined, `length ${length}, byte ${at}`);
    }
  }
});

void test('the word-key cache (cachedAscii up to 8 bytes): exactly the bytes asked for, at every length 0-8, at the body end and mid-body, through evictions and collisions', () => {
  let seed = 7;
  const rand = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  // Many more distinct strings than slots, over a small alphabet (so some differ in one byte, and slots collide).
  const texts: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    const length = Math.floor(rand() * (WORD_KEY_BYTES_MAX + 1));
    texts.push(Array.from({ length }, () => 'ab\u0000~'[Math.floor(rand() * 4)]!).join(''));
  }
  for (let round = 0; round < 2; round++) {
    for (const text of texts) {
      // The string with bytes after it (read in two whole words and masked), and at the very end of its buffer (read byte by byte).
      for (const b of [Buffer.from(`${text}zzzzzzzz`, 'latin1'), Buffer.from(`.${text}`, 'latin1')]) {
        const start = b[0] === 0x2e && b.length === text.length + 1 ? 1 : 0;
        const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
        assert.equal(cachedAscii(b, view, start, start + text.length), text);
        assert.equal(cachedAscii(b, view, start, start + text.length), text, 'again: a hit');
      }
    }
  }
  // A hit is the same object; a byte past 0x7f at any place is undefined.
  const b = Buffer.from('plan.free.', 'latin1');
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  assert.equal(cachedAscii(b, view, 0, 4), cachedAscii(Buffer.from(b), view, 0, 4));
  for (let length = 1; length <= WORD_KEY_BYTES_MAX; length++) {
    for (let at = 0; at < length; at++) {
      const wide = Buffer.from('abcdefghij', 'latin1');
      wide[1 + at] = 0x80 + at;
      assert.equal(cachedAscii(wide, new DataView(wide.buffer, wide.byteOffset, wide.byteLength), 1, 1 + length), undefined, `length ${length}, byte ${at}`);
    }
  }
});
