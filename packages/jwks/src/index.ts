export { createJwksProvider, type JwksProvider, type JwksProviderOptions } from './provider.js';
