import type { StreamProducer } from '../contracts/stream.js';
import type { StowageErrorCode } from '../errors.js';

/** What a stream remembers of one producer: its epoch and the last seq accepted in it. */
export interface ProducerState {
  epoch: number;
  seq: number;
}

export type ProducerVerdict =
  | { kind: 'accept'; next: ProducerState }
  | { kind: 'duplicate'; state: ProducerState }
  | { kind: 'reject'; code: StowageErrorCode; message: string; details: Record<string, unknown> };

/**
 * The reference producer check (Kafka-style idempotent producers), in the contract's order:
 * 1. an epoch below the current one is `FENCED`;
 * 2. same epoch and `seq <= last` is a duplicate;
 * 3. a closed stream is `CONFLICT`;
 * 4. a new producer must start at seq 0 (`CONFLICT`, expected 0), a new epoch too
 *    (`INVALID_ARGUMENT`);
 * 5. a gap is `CONFLICT` with the expected seq.
 */
export function checkProducer(state: ProducerState | undefined, claim: StreamProducer, closed: boolean): ProducerVerdict {
  if (state !== undefined) {
    if (claim.epoch < state.epoch) {
      return {
        kind: 'reject',
        code: 'FENCED',
        message: `producer ${claim.id} epoch ${claim.epoch} is stale; the current epoch is ${state.epoch}`,
        details: { currentEpoch: state.epoch },
      };
    }
    if (claim.epoch === state.epoch && claim.seq <= state.seq) return { kind: 'duplicate', state };
  }
  if (closed) {
    return { kind: 'reject', code: 'CONFLICT', message: 'the stream is closed', details: { closed: true } };
  }
  if (state === undefined) {
    if (claim.seq !== 0) {
      return {
        kind: 'reject',
        code: 'CONFLICT',
        message: `producer ${claim.id} is new and must start at seq 0, got ${claim.seq}`,
        details: { expectedSeq: 0, receivedSeq: claim.seq },
      };
    }
    return { kind: 'accept', next: { epoch: claim.epoch, seq: 0 } };
  }
  if (claim.epoch > state.epoch) {
    if (claim.seq !== 0) {
      return {
        kind: 'reject',
        code: 'INVALID_ARGUMENT',
        message: `producer ${claim.id} epoch ${claim.epoch} is new and must start at seq 0, got ${claim.seq}`,
        details: { epochSeq: true, receivedSeq: claim.seq },
      };
    }
    return { kind: 'accept', next: { epoch: claim.epoch, seq: 0 } };
  }
  if (claim.seq !== state.seq + 1) {
    return {
      kind: 'reject',
      code: 'CONFLICT',
      message: `producer ${claim.id} seq gap: expected ${state.seq + 1}, got ${claim.seq}`,
      details: { expectedSeq: state.seq + 1, receivedSeq: claim.seq },
    };
  }
  return { kind: 'accept', next: { epoch: claim.epoch, seq: claim.seq } };
}
