import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

/**
 * A stand-in identity provider so the example runs offline: it publishes a JWKS and signs
 * tokens for any `sub`. Set `JWKS_URI` to verify tokens of a real issuer instead.
 */
export async function devIssuer(): Promise<Router> {
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
    const sub = typeof req.body?.sub === 'string' && req.body.sub.length > 0 ? req.body.sub : 'demo-user';
    const token = await new SignJWT({ scope: 'orders' })
      .setProtectedHeader({ alg: 'ES256', kid })
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
    res.json({ token });
  });
  return router;
}
