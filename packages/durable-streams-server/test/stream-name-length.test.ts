import { describe, expect, it } from 'vitest';
import { describeEveryServer } from './stores.js';

// A stream's name (the percent-decoded path after basePath) is 1 to 1024 UTF-8 bytes. The
// message states the limit and the name's length in that unit: a name of 513 "é" is 513
// characters (and UTF-16 units) but 1026 bytes.

const cases: Array<[string, string, number, string | undefined]> = [
  ['512 two-byte characters (1024 bytes)', 'é'.repeat(512), 201, undefined],
  ['513 two-byte characters (1026 bytes)', 'é'.repeat(513), 400, 'got 1026 UTF-8 bytes'],
  ['342 three-byte characters (1026 bytes)', '€'.repeat(342), 400, 'got 1026 UTF-8 bytes'],
  ['256 four-byte characters (1024 bytes, 512 UTF-16 units)', '𝄞'.repeat(256), 201, undefined],
  ['257 four-byte characters (1028 bytes)', '𝄞'.repeat(257), 400, 'got 1028 UTF-8 bytes'],
];

await describeEveryServer({ log: false }, (served) => {
  describe('stream names near the 1024-byte limit', () => {
    for (const [label, name, status, got] of cases) {
      it(`${label}: ${status}`, async () => {
        const url = `${served.base}/${encodeURIComponent(name)}`;
        const res = await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
        const text = await res.text();
        expect(res.status, text).toBe(status);
        if (got === undefined) {
          expect((await fetch(url, { method: 'DELETE' })).status).toBe(204);
          return;
        }
        expect(JSON.parse(text)).toEqual({
          error: { code: 'INVALID_ARGUMENT', message: `the stream name must be 1 to 1024 UTF-8 bytes, ${got}` },
        });
        expect((await fetch(url, { method: 'HEAD' })).status).toBe(400);
      });
    }
  });
});
