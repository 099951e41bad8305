import type { Socket } from 'node:net';

/** A client socket whose writes can be counted (Node's `_write`/`_writev`, wrapped in tests only). */
export type Watched = Socket & { _writev: NonNullable<Socket['_writev']> };

/** Counts the commands of each write to `socket` into `writes` (one chunk per command). */
export function countWrites(socket: Watched, writes: number[]): void {
  const write = socket._write.bind(socket);
  const writev = socket._writev.bind(socket);
  socket._write = (chunk, encoding, cb) => {
    writes.push(1);
    write(chunk, encoding, cb);
  };
  socket._writev = (chunks, cb) => {
    writes.push(chunks.length);
    writev(chunks, cb);
  };
}
