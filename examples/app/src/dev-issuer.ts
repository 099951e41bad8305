import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

/** The audience of the dev issuer's tokens: the example's API. */
export const DEV_AUDIENCE = 'stowage-example-api';

/**
 * A stand-in identity provider so the example runs offline: it publishes a JWKS and signs
 * tokens for any `sub` (a string; `demo-user` when none is given), issued by `issuer` for
 * {@link DEV_AUDIENCE}. Set `JWKS_URI` and `JWT_ISSUER` to verify tokens of a real issuer instead.
 */
export async function devIssuer(issuer: () => string): Promise<Router> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  // A new key at every start, so a new key id: replicas that cached the last run's key set
  // see an unknown kid and refresh, instead of rejecting tokens until the cache expires.
  const kid = `dev-${randomUUID()}`;
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const router = Router();
  router.get('/jwks.json', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').json({ keys: [jwk] });
  });
  router.post('/token', async (req, res) => {
    const given: unknown = req.body?.sub;
    if (given !== undefined && (typeof given !== 'string' || given.length === 0 || given.length > 256)) {
      return void res.status(400).json({ error: 'sub must be a string of 1 to 256 characters' });
    }
    const token = await new SignJWT({ scope: 'orders' })
      .setProtectedHeader({ alg: 'ES256', kid })
      .setSubject(given ?? 'demo-user')
      .setIssuer(issuer())
      .setAudience(DEV_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
    res.json({ token });
  });
  return router;
}
