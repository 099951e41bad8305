import type { SessionStore } from '@stowage/core';
import type { opener } from '../../context.js';

/** What each part of the contract gets to open its stores. */
export type SessionOpen = ReturnType<typeof opener<SessionStore>>;

export const MIN = 60_000;
