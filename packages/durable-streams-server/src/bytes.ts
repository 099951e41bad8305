/** The bytes of a batch of messages, without a copy when there is only one. */
export function concatMessages(messages: readonly { data: Uint8Array }[]): Buffer {
  if (messages.length === 1) {
    const d = messages[0]!.data;
    return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  }
  return Buffer.concat(messages.map((m) => m.data));
}
