/**
 * Strings a request can carry that a store cannot take as a key as they are (see core's
 * `toStoreKey`): the middleware and adapters must hash them, never refuse or let them through.
 */
export const UNKEYABLE_REQUEST_DATA: Readonly<Record<string, string>> = Object.freeze({
  'over 1024 bytes': `alice${' '.repeat(1100)}`,
  'with U+0000': 'alice\u0000',
  'with a lone surrogate': 'alice\ud800',
});

/** How a client sends any string in a header: JSON text with every non-ASCII unit escaped. */
export const asJsonHeader = (value: string): string =>
  JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
