/** The bytes of a batch of messages, without a copy when there is only one. */
export function concatMessages(messages: readonly { data: Uint8Array }[]): Buffer {
  if (messages.length === 1) {
    const d = messages[0]!.data;
    return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  }
  let size = 0;
  for (let i = 0; i < messages.length; i++) size += messages[i]!.data.byteLength;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < messages.length; i++) {
    const d = messages[i]!.data;
    out.set(d, at);
    at += d.byteLength;
  }
  return out;
}
