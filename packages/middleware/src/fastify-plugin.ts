import { ErrorSource } from '@stowage/core/adapter-kit';
import type { FastifyRequest } from 'fastify';

export const source = new ErrorSource('@stowage/middleware', 'fastify');

/**
 * Marks `plugin` as one whose hooks apply to the instance that registers it (what
 * `fastify-plugin` does, without depending on it), for Fastify 5.
 */
export function unencapsulated<T extends object>(plugin: T, name: string): T {
  return Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: name,
    [Symbol.for('plugin-meta')]: { name, fastify: '5.x' },
  });
}

export const pathOf = (request: FastifyRequest): string => request.url.split('?')[0]!;
