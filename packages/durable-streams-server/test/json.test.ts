import { describe, expect, it } from 'vitest';
import { nextCursor } from '../src/cursor.js';
import { jsonArray, jsonBodyMessage, jsonPrefix } from '../src/json.js';

const msg = (text: string) => jsonBodyMessage(Buffer.from(text))?.toString('utf8');

describe('JSON mode: one message per request, values kept as sent', () => {
  it('flattens exactly one level of a top-level array', () => {
    expect(msg('{"event": "created"}')).toBe('{"event": "created"}');
    expect(msg(' [ {"a":1} , {"b":2} ] ')).toBe('{"a":1},{"b":2}');
    expect(msg('[[1,2], [3,4]]')).toBe('[1,2],[3,4]');
    expect(msg('[[[1,2,3]]]')).toBe('[[1,2,3]]');
    expect(msg('[]')).toBeUndefined();
    expect(msg(' [ \n ] ')).toBeUndefined();
    expect(msg('"just a string"')).toBe('"just a string"');
    expect(msg('42')).toBe('42');
  });

  it('keeps strings with brackets, commas and escapes, and numbers past 2^53, intact', () => {
    expect(msg('["a,]\\"b", {"x":"]["}, "\\\\", 12345678901234567890]')).toBe('"a,]\\"b",{"x":"]["},"\\\\",12345678901234567890');
    expect(msg('[\n  {"k": [1, {"n": null}]},\n  true\n]')).toBe('{"k": [1, {"n": null}]},true');
  });

  it('rejects invalid JSON with INVALID_ARGUMENT', () => {
    for (const bad of ['{', '[1,]', 'nope', '', '{"a":1}{"b":2}']) {
      expect(() => jsonBodyMessage(Buffer.from(bad))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });

  it('round-trips random values: a read parses back to exactly the values appended, and every prefix cuts between values', () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const value = (depth: number): unknown => {
      switch (rnd(depth > 2 ? 4 : 6)) {
        case 0:
          return rnd(1000) - 500;
        case 1:
          return ['', 'a,b', ']', '"q"', '\\', 'ünï', '\n'][rnd(7)];
        case 2:
          return [true, false, null][rnd(3)];
        case 3:
          return rnd(100) / 7;
        case 4:
          return Array.from({ length: rnd(4) }, () => value(depth + 1));
        default:
          return Object.fromEntries(Array.from({ length: rnd(4) }, (_, i) => [`k${i},]`, value(depth + 1)]));
      }
    };
    for (let round = 0; round < 300; round++) {
      const batches = Array.from({ length: 1 + rnd(3) }, () => Array.from({ length: 1 + rnd(5) }, () => value(0)));
      const messages = batches.map((b) => ({ data: jsonBodyMessage(Buffer.from(JSON.stringify(b, null, rnd(2) ? 2 : 0)))! }));
      expect(JSON.parse(jsonArray(messages).toString('utf8'))).toEqual(batches.flat());
      const first = batches[0]!;
      for (let k = 0; k <= first.length; k++) {
        const { values, prefix } = jsonPrefix(messages[0]!.data, k);
        expect(values).toBe(first.length);
        expect(JSON.parse(`[${prefix.toString('utf8')}]`)).toEqual(first.slice(0, k));
      }
    }
  });
});

describe('Stream-Cursor', () => {
  it('is the 20 s interval since 2024-10-09, and moves strictly past a cursor the client already holds', () => {
    const now = Date.UTC(2024, 9, 9) + 20_000 * 1000 + 5;
    expect(nextCursor(null, now)).toBe('1000');
    expect(nextCursor('999', now)).toBe('1000');
    for (let i = 0; i < 100; i++) {
      const next = Number(nextCursor('1000', now));
      expect(next).toBeGreaterThan(1000);
      expect(next).toBeLessThanOrEqual(1000 + 180);
    }
    expect(Number(nextCursor('5000', now))).toBeGreaterThan(5000);
    expect(nextCursor('not-a-number', now)).toBe('1000');
  });
});
