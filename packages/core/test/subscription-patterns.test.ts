import { describe, expect, it } from 'vitest';
import { matchesPattern } from '../src/subscriptions/glob.js';

describe('subscription patterns', () => {
  const cases: [pattern: string, stream: string, matches: boolean][] = [
    ['events/*', 'events/a', true],
    ['events/*', 'events', false],
    ['events/*', 'events/a/b', false],
    ['events/*', 'other/a', false],
    ['/events/*/', 'events/a', true],
    ['events/**', 'events', true],
    ['events/**', 'events/a/b/c', true],
    ['**/done', 'a/b/done', true],
    ['**/done', 'done', true],
    ['**/done', 'a/done/x', false],
    ['a/**/b/**/c', 'a/x/b/y/z/c', true],
    ['a/**/**/c', 'a/c', true],
    ['**', 'anything/at/all', true],
    ['exact/name', 'exact/name', true],
    ['exact/name', 'exact/names', false],
    ['*', 'one', true],
    ['*', 'one/two', false],
    ['a*/b', 'ab/b', false],
    ['a*/b', 'a*/b', true],
  ];
  for (const [pattern, stream, matches] of cases) {
    it(`${pattern} ${matches ? 'matches' : 'does not match'} ${stream}`, () => {
      expect(matchesPattern(pattern, stream)).toBe(matches);
    });
  }

  it('stays fast on a pattern built to backtrack', () => {
    const stream = Array.from({ length: 200 }, () => 'x').join('/');
    // Four `**` with a tail that never matches: linear in pattern x name, no backtracking.
    expect(matchesPattern('**/x/**/x/**/x/**/y', stream)).toBe(false);
  });
});
