import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  base64url,
  type CryptoKey,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  importJWK,
  type JWTHeaderParameters,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type JwtOptions,
  looksLikeJwt,
  TokenError,
  type TokenErrorCode,
  TokenService,
} from '../../server/src/auth/jwt.js';

// Unit tests of the token service: real keys, real files in a temp dir, and, for the external identity
// provider, a real JWKS endpoint served over loopback HTTP. Hand-built tokens are signed with the service's
// own private key (read from its keys file) so that each test isolates the one check it is about.

let dir: string;
let fileSeq = 0;
const keysPath = () => path.join(dir, `keys-${++fileSeq}.json`);
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kvws-jwt-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function options(overrides: Partial<JwtOptions> = {}): JwtOptions {
  return {
    issuer: 'kvws',
    audience: 'kvws',
    defaultTtl: 900,
    maxTtl: 86400,
    clockSkew: 30,
    maxTokenBytes: 8192,
    ...overrides,
  };
}

/** Asserts that `p` rejects with a TokenError of `code` whose message does not quote `token`. */
async function expectRefused(p: Promise<unknown>, code: TokenErrorCode, token?: string): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenError);
  expect((err as TokenError).code).toBe(code);
  if (token) expect((err as TokenError).message).not.toContain(token);
}

interface StoredKey {
  kid: string;
  createdAt: number;
  privateJwk: Record<string, string>;
  publicJwk: Record<string, string>;
}
async function readKeys(file: string): Promise<{ version: number; keys: StoredKey[] }> {
  return JSON.parse(await readFile(file, 'utf8'));
}

/** The newest signing key in `file` and its kid. */
async function newestKey(file: string): Promise<{ kid: string; key: CryptoKey; stored: StoredKey }> {
  const { keys } = await readKeys(file);
  const stored = keys[keys.length - 1];
  return { kid: stored.kid, key: (await importJWK(stored.privateJwk, 'EdDSA')) as CryptoKey, stored };
}

/** Claims of a valid kvws token; a value of `undefined` in `overrides` removes the claim. */
function claims(overrides: Record<string, unknown> = {}): JWTPayload {
  const out: Record<string, unknown> = { user: 'alice', iss: 'kvws', aud: 'kvws', iat: now(), exp: now() + 300 };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out as JWTPayload;
}

function sign(payload: JWTPayload, header: JWTHeaderParameters, key: CryptoKey | Uint8Array): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(header).sign(key);
}

const b64json = (v: unknown) => base64url.encode(JSON.stringify(v));

describe('looksLikeJwt', () => {
  it('tells tokens from passwords', async () => {
    const svc = await TokenService.create(options());
    const { token } = await svc.issue({ user: 'alice' });
    expect(looksLikeJwt(token)).toBe(true);
    expect(looksLikeJwt(`${b64json({ alg: 'none' })}.${b64json({ a: 1 })}.`)).toBe(true);
    expect(looksLikeJwt('hunter2')).toBe(false);
    expect(looksLikeJwt('a.b.c')).toBe(false);
    expect(looksLikeJwt(`${token}.x`)).toBe(false);
    expect(looksLikeJwt(token.replace('.', '.+'))).toBe(false);
    expect(looksLikeJwt('')).toBe(false);
  });
});

describe('kvws tokens', () => {
  let file: string;
  let svc: TokenService;
  let signer: { kid: string; key: CryptoKey; stored: StoredKey };

  beforeAll(async () => {
    file = keysPath();
    svc = await TokenService.create(options({ keysFile: file }));
    signer = await newestKey(file);
  });

  it('creates the keys file with mode 0600 and one Ed25519 key', async () => {
    const data = await readKeys(file);
    expect(data.version).toBe(1);
    expect(data.keys).toHaveLength(1);
    const [k] = data.keys;
    expect(k.kid).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(k.privateJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
    expect(k.privateJwk.d).toBeTruthy();
    expect(k.publicJwk.d).toBeUndefined();
    if (process.platform !== 'win32') expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(svc.jwks()).toEqual({
      keys: [{ kty: 'OKP', crv: 'Ed25519', x: k.publicJwk.x, kid: k.kid, alg: 'EdDSA', use: 'sig' }],
    });
  });

  it('round-trips issue → verify with claims and acl', async () => {
    const issued = await svc.issue({ user: 'alice', acl: '~app:* +get', claims: { tenant: 't1', n: 3 }, ttl: 60 });
    expect(issued.kid).toBe(signer.kid);
    const v = await svc.verify(issued.token);
    expect(v.user).toBe('alice');
    expect(v.acl).toBe('~app:* +get');
    expect(v.source).toBe('kvws');
    expect(v.kid).toBe(signer.kid);
    expect(v.expiresAt).toBe(issued.expiresAt);
    expect(v.claims).toMatchObject({ tenant: 't1', n: 3, sub: 'alice', user: 'alice', iss: 'kvws', aud: 'kvws' });
    expect(v.claims.exp).toBe((v.claims.iat as number) + 60);
    expect(typeof v.claims.jti).toBe('string');
    expect(decodeProtectedHeader(issued.token)).toEqual({ alg: 'EdDSA', kid: signer.kid, typ: 'JWT' });

    const other = await svc.issue({ user: 'alice' });
    expect(decodeJwt(other.token).jti).not.toBe(v.claims.jti);
  });

  it('defaults the lifetime, sub and acl', async () => {
    const { token } = await svc.issue({ user: 'bob', sub: 'session-42' });
    const v = await svc.verify(token);
    expect(v.user).toBe('bob');
    expect(v.claims.sub).toBe('session-42');
    expect(v.acl).toBeNull();
    expect((v.claims.exp as number) - (v.claims.iat as number)).toBe(900);
  });

  it('takes the user from sub when there is no user claim', async () => {
    const token = await sign(claims({ user: undefined, sub: 'carol' }), { alg: 'EdDSA', kid: signer.kid }, signer.key);
    expect((await svc.verify(token)).user).toBe('carol');
    const none = await sign(claims({ user: undefined }), { alg: 'EdDSA', kid: signer.kid }, signer.key);
    await expectRefused(svc.verify(none), 'no-user', none);
  });

  it('refuses a non-string acl claim rather than ignoring it', async () => {
    const token = await sign(claims({ acl: ['+@all'] }), { alg: 'EdDSA', kid: signer.kid }, signer.key);
    await expectRefused(svc.verify(token), 'malformed', token);
  });

  it('refuses ttl above maxTtl, reserved claims and an empty user at issue', async () => {
    await expectRefused(svc.issue({ user: 'alice', ttl: 86401 }), 'ttl-too-long');
    await expectRefused(svc.issue({ user: '' }), 'no-user');
    await expect(svc.issue({ user: 'alice', ttl: 0 })).rejects.toBeInstanceOf(RangeError);
    await expect(svc.issue({ user: 'alice', claims: { exp: 1 } })).rejects.toBeInstanceOf(RangeError);
    expect((await svc.issue({ user: 'alice', ttl: 86400 })).token).toBeTruthy();
  });

  it('refuses an alg:none token', async () => {
    const token = `${b64json({ alg: 'none', kid: signer.kid, typ: 'JWT' })}.${b64json(claims())}.`;
    await expectRefused(svc.verify(token), 'alg-not-allowed', token);
  });

  it('refuses an HS256 token keyed with the public key bytes', async () => {
    const secret = base64url.decode(signer.stored.publicJwk.x);
    const token = await sign(claims(), { alg: 'HS256', kid: signer.kid }, secret);
    await expectRefused(svc.verify(token), 'alg-not-allowed', token);
    const jwkText = new TextEncoder().encode(JSON.stringify(svc.jwks().keys[0]));
    const token2 = await sign(claims(), { alg: 'HS256', kid: signer.kid }, jwkText);
    await expectRefused(svc.verify(token2), 'alg-not-allowed', token2);
  });

  it('applies the clock skew to exp', async () => {
    const expired = await sign(
      claims({ iat: now() - 600, exp: now() - 120 }),
      { alg: 'EdDSA', kid: signer.kid },
      signer.key,
    );
    await expectRefused(svc.verify(expired), 'expired', expired);
    const justExpired = await sign(
      claims({ iat: now() - 600, exp: now() - 10 }),
      { alg: 'EdDSA', kid: signer.kid },
      signer.key,
    );
    expect((await svc.verify(justExpired)).user).toBe('alice');
  });

  it('refuses nbf and iat in the future beyond the skew, accepts them within it', async () => {
    const h = { alg: 'EdDSA', kid: signer.kid };
    const nbf = await sign(claims({ nbf: now() + 120 }), h, signer.key);
    await expectRefused(svc.verify(nbf), 'not-yet-valid', nbf);
    const iat = await sign(claims({ iat: now() + 120 }), h, signer.key);
    await expectRefused(svc.verify(iat), 'not-yet-valid', iat);
    const nearly = await sign(claims({ nbf: now() + 10, iat: now() + 10 }), h, signer.key);
    expect((await svc.verify(nearly)).user).toBe('alice');
  });

  it('refuses a wrong audience or issuer, and a missing exp', async () => {
    const h = { alg: 'EdDSA', kid: signer.kid };
    const aud = await sign(claims({ aud: 'other' }), h, signer.key);
    await expectRefused(svc.verify(aud), 'bad-audience', aud);
    const iss = await sign(claims({ iss: 'someone-else' }), h, signer.key);
    await expectRefused(svc.verify(iss), 'bad-issuer', iss);
    const noIss = await sign(claims({ iss: undefined }), h, signer.key);
    await expectRefused(svc.verify(noIss), 'bad-issuer', noIss);
    const noExp = await sign(claims({ exp: undefined }), h, signer.key);
    await expectRefused(svc.verify(noExp), 'no-exp', noExp);
    const strExp = await sign(claims({ exp: String(now() + 300) }), h, signer.key);
    await expectRefused(svc.verify(strExp), 'malformed', strExp);
  });

  it('refuses a tampered payload or signature', async () => {
    const { token } = await svc.issue({ user: 'alice', acl: '-@all +get' });
    const [h, p, s] = token.split('.');
    const payload = decodeJwt(token);
    const escalated = `${h}.${b64json({ ...payload, user: 'admin', acl: undefined })}.${s}`;
    await expectRefused(svc.verify(escalated), 'bad-signature', escalated);
    const flipped = `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    await expectRefused(svc.verify(flipped), 'bad-signature', flipped);
  });

  it('refuses an unknown or missing kid', async () => {
    const { privateKey } = await generateKeyPair('Ed25519');
    const unknown = await sign(claims(), { alg: 'EdDSA', kid: 'not-a-kvws-kid' }, privateKey);
    await expectRefused(svc.verify(unknown), 'unknown-kid', unknown);
    const noKid = await sign(claims(), { alg: 'EdDSA' }, signer.key);
    await expectRefused(svc.verify(noKid), 'malformed', noKid);
    // The right kid with a foreign key is a bad signature, not an unknown kid.
    const forged = await sign(claims(), { alg: 'EdDSA', kid: signer.kid }, privateKey);
    await expectRefused(svc.verify(forged), 'bad-signature', forged);
  });

  it('refuses oversized tokens before parsing them', async () => {
    const big = await svc.issue({ user: 'alice', claims: { pad: 'x'.repeat(9000) } });
    await expectRefused(svc.verify(big.token), 'too-large', big.token);
    await expectRefused(svc.verify('%'.repeat(8193)), 'too-large');
    await expectRefused(svc.verify('é'.repeat(5000)), 'too-large'); // 10000 bytes in UTF-8
    const small = await TokenService.create(options({ keysFile: file, maxTokenBytes: 256 }));
    const { token } = await svc.issue({ user: 'alice', claims: { pad: 'x'.repeat(200) } });
    expect((await svc.verify(token)).user).toBe('alice');
    await expectRefused(small.verify(token), 'too-large', token);
  });

  it('refuses malformed input', async () => {
    for (const bad of ['', 'hunter2', 'a.b', 'a.b.c', `${b64json({ alg: 'EdDSA' })}.!!!.x`, 'eyJ.eyJ.eyJ']) {
      await expectRefused(svc.verify(bad), 'malformed');
    }
    const notObject = `${b64json({ alg: 'EdDSA', kid: signer.kid })}.${b64json([1, 2])}.AAAA`;
    await expectRefused(svc.verify(notObject), 'malformed');
  });

  it('refuses to start with a corrupt keys file', async () => {
    const corrupt = keysPath();
    await writeFile(corrupt, '{"version":1,"keys":[]}', { mode: 0o600 });
    await expect(TokenService.create(options({ keysFile: corrupt }))).rejects.toThrow(/not a kvws keys file/);
    await writeFile(corrupt, 'not json', { mode: 0o600 });
    await expect(TokenService.create(options({ keysFile: corrupt }))).rejects.toThrow(/not valid JSON/);
  });
});

describe('key rotation', () => {
  it('keeps old tokens valid, signs with the new key and lists both', async () => {
    const file = keysPath();
    const svc = await TokenService.create(options({ keysFile: file }));
    const before = await svc.issue({ user: 'alice' });
    const kid2 = await svc.rotate();
    expect(kid2).not.toBe(before.kid);
    const after = await svc.issue({ user: 'alice' });
    expect(after.kid).toBe(kid2);
    expect(decodeProtectedHeader(after.token).kid).toBe(kid2);
    expect((await svc.verify(before.token)).kid).toBe(before.kid);
    expect((await svc.verify(after.token)).kid).toBe(kid2);
    expect(svc.jwks().keys.map((k) => k.kid)).toEqual([before.kid, kid2]);
    expect((await readKeys(file)).keys.map((k) => k.kid)).toEqual([before.kid, kid2]);
    if (process.platform !== 'win32') expect((await stat(file)).mode & 0o777).toBe(0o600);
    // A restart reads the same keys.
    const restarted = await TokenService.create(options({ keysFile: file }));
    expect((await restarted.verify(before.token)).user).toBe('alice');
    expect((await restarted.issue({ user: 'alice' })).kid).toBe(kid2);
  });

  it('drops keys retired more than maxTtl before the newest', async () => {
    const file = keysPath();
    const svc = await TokenService.create(options({ keysFile: file }));
    const old = await svc.issue({ user: 'alice' });
    const kid2 = await svc.rotate();
    const mid = await svc.issue({ user: 'alice' });
    // Pretend key 1 was made three days ago and replaced by key 2 two days ago (maxTtl is one day).
    const data = await readKeys(file);
    data.keys[0].createdAt = Date.now() - 3 * 86400_000;
    data.keys[1].createdAt = Date.now() - 2 * 86400_000;
    await writeFile(file, JSON.stringify(data), { mode: 0o600 });
    expect(await svc.reload()).toBe(true);
    const kid3 = await svc.rotate();
    expect(svc.jwks().keys.map((k) => k.kid)).toEqual([kid2, kid3]);
    expect((await readKeys(file)).keys.map((k) => k.kid)).toEqual([kid2, kid3]);
    await expectRefused(svc.verify(old.token), 'unknown-kid', old.token);
    expect((await svc.verify(mid.token)).kid).toBe(kid2);
  });

  it('reloads keys rotated by another instance sharing the file', async () => {
    const file = keysPath();
    const a = await TokenService.create(options({ keysFile: file }));
    const b = await TokenService.create(options({ keysFile: file }));
    const kid1 = a.jwks().keys[0].kid;
    expect(b.jwks().keys[0].kid).toBe(kid1);

    const kid2 = await b.rotate();
    expect(a.jwks().keys.map((k) => k.kid)).toEqual([kid1]);
    expect((await a.issue({ user: 'alice' })).kid).toBe(kid1);
    expect(await a.reload()).toBe(true);
    expect(a.jwks().keys.map((k) => k.kid)).toEqual([kid1, kid2]);
    expect((await a.issue({ user: 'alice' })).kid).toBe(kid2);

    // An unreadable file keeps the old keys.
    const good = await readFile(file, 'utf8');
    await writeFile(file, '{ truncated', { mode: 0o600 });
    expect(await a.reload()).toBe(false);
    expect(a.jwks().keys.map((k) => k.kid)).toEqual([kid1, kid2]);
    await writeFile(file, good, { mode: 0o600 });

    // A token signed with a key this instance has not seen yet makes verify() re-read the file once.
    const c = await TokenService.create(options({ keysFile: file }));
    const kid3 = await b.rotate();
    const fresh = await b.issue({ user: 'dave' });
    expect(fresh.kid).toBe(kid3);
    expect(c.jwks().keys.map((k) => k.kid)).not.toContain(kid3);
    expect((await c.verify(fresh.token)).user).toBe('dave');
    expect(c.jwks().keys.map((k) => k.kid)).toContain(kid3);

    // A rotation re-reads the file first, so it keeps keys another instance added.
    const kid4 = await a.rotate();
    expect((await readKeys(file)).keys.map((k) => k.kid)).toEqual([kid1, kid2, kid3, kid4]);
  });

  it('keeps in-memory keys per process', async () => {
    const a = await TokenService.create(options());
    const b = await TokenService.create(options());
    const { token } = await a.issue({ user: 'alice' });
    expect((await a.verify(token)).user).toBe('alice');
    await expectRefused(b.verify(token), 'unknown-kid', token);
    expect(await a.reload()).toBe(false);
    const kid2 = await a.rotate();
    expect(a.jwks().keys).toHaveLength(2);
    expect((await a.issue({ user: 'alice' })).kid).toBe(kid2);
  });
});

describe('external identity provider', () => {
  const IDP = 'https://idp.example.com/';
  const external = (extra: Partial<NonNullable<JwtOptions['external']>>): NonNullable<JwtOptions['external']> => ({
    issuer: IDP,
    audience: 'kvws-api',
    algorithms: ['ES256'],
    userClaim: 'kvws_user',
    ...extra,
  });
  const idpClaims = (overrides: Record<string, unknown> = {}) =>
    claims({ user: undefined, iss: IDP, aud: 'kvws-api', sub: 'u-1', ...overrides });

  describe('with a PEM public key', () => {
    let es: { privateKey: CryptoKey; publicKey: CryptoKey };
    let pemFile: string;

    beforeAll(async () => {
      es = await generateKeyPair('ES256', { extractable: true });
      pemFile = path.join(dir, 'idp-es256.pem');
      await writeFile(pemFile, await exportSPKI(es.publicKey));
    });

    it('maps userClaim, then defaultUser, and keeps kvws tokens working', async () => {
      const svc = await TokenService.create(
        options({ external: external({ publicKeyFile: pemFile, defaultUser: 'guest' }) }),
      );
      const bob = await sign(idpClaims({ kvws_user: 'bob', acl: '~bob:*' }), { alg: 'ES256' }, es.privateKey);
      const v = await svc.verify(bob);
      expect(v).toMatchObject({ user: 'bob', source: 'external', acl: '~bob:*' });
      expect(v.claims.sub).toBe('u-1');
      expect(v.kid).toBeUndefined();
      const anon = await sign(idpClaims(), { alg: 'ES256', kid: 'k1' }, es.privateKey);
      expect(await svc.verify(anon)).toMatchObject({ user: 'guest', source: 'external', acl: null, kid: 'k1' });
      // A `user` claim means nothing to an external token whose userClaim is kvws_user.
      const userClaim = await sign(idpClaims({ user: 'admin' }), { alg: 'ES256' }, es.privateKey);
      expect((await svc.verify(userClaim)).user).toBe('guest');

      const own = await svc.issue({ user: 'alice' });
      expect(await svc.verify(own.token)).toMatchObject({ user: 'alice', source: 'kvws' });
    });

    it('refuses external tokens without the user claim when there is no defaultUser', async () => {
      const svc = await TokenService.create(options({ external: external({ publicKeyFile: pemFile }) }));
      const anon = await sign(idpClaims(), { alg: 'ES256' }, es.privateKey);
      await expectRefused(svc.verify(anon), 'no-user', anon);
      const bob = await sign(idpClaims({ kvws_user: 'bob' }), { alg: 'ES256' }, es.privateKey);
      expect((await svc.verify(bob)).user).toBe('bob');
    });

    it('enforces the algorithm allow-list, signature, audience and exp', async () => {
      const svc = await TokenService.create(
        options({ external: external({ publicKeyFile: pemFile, defaultUser: 'guest' }) }),
      );
      const rs = await generateKeyPair('RS256');
      const rsToken = await sign(idpClaims(), { alg: 'RS256' }, rs.privateKey);
      await expectRefused(svc.verify(rsToken), 'alg-not-allowed', rsToken);
      const es384 = await generateKeyPair('ES384');
      const es384Token = await sign(idpClaims(), { alg: 'ES384' }, es384.privateKey);
      await expectRefused(svc.verify(es384Token), 'alg-not-allowed', es384Token);
      const pemBytes = new TextEncoder().encode(await readFile(pemFile, 'utf8'));
      const hsToken = await sign(idpClaims(), { alg: 'HS256' }, pemBytes);
      await expectRefused(svc.verify(hsToken), 'alg-not-allowed', hsToken);
      const noneToken = `${b64json({ alg: 'none' })}.${b64json(idpClaims())}.`;
      await expectRefused(svc.verify(noneToken), 'alg-not-allowed', noneToken);

      const other = await generateKeyPair('ES256');
      const forged = await sign(idpClaims({ kvws_user: 'admin' }), { alg: 'ES256' }, other.privateKey);
      await expectRefused(svc.verify(forged), 'bad-signature', forged);
      const aud = await sign(idpClaims({ aud: 'kvws' }), { alg: 'ES256' }, es.privateKey);
      await expectRefused(svc.verify(aud), 'bad-audience', aud);
      const noExp = await sign(idpClaims({ exp: undefined }), { alg: 'ES256' }, es.privateKey);
      await expectRefused(svc.verify(noExp), 'no-exp', noExp);
      const expired = await sign(idpClaims({ exp: now() - 120 }), { alg: 'ES256' }, es.privateKey);
      await expectRefused(svc.verify(expired), 'expired', expired);
    });

    it('refuses an allowed algorithm that does not fit the key', async () => {
      const svc = await TokenService.create(
        options({ external: external({ publicKeyFile: pemFile, algorithms: ['ES256', 'RS256'], defaultUser: 'g' }) }),
      );
      const rs = await generateKeyPair('RS256');
      const rsToken = await sign(idpClaims(), { alg: 'RS256' }, rs.privateKey);
      await expectRefused(svc.verify(rsToken), 'alg-not-allowed', rsToken);
      expect((await svc.verify(await sign(idpClaims(), { alg: 'ES256' }, es.privateKey))).user).toBe('g');
    });

    it('refuses unsafe external configurations at start-up', async () => {
      const bad = (ext: Partial<NonNullable<JwtOptions['external']>>) =>
        TokenService.create(options({ external: external({ publicKeyFile: pemFile, ...ext }) }));
      await expect(bad({ algorithms: ['HS256'] })).rejects.toThrow(/HS256/);
      await expect(bad({ algorithms: ['none'] })).rejects.toThrow(/none/);
      await expect(bad({ algorithms: [] })).rejects.toThrow(/empty/);
      await expect(bad({ issuer: 'kvws' })).rejects.toThrow(/differ/);
      await expect(bad({ jwksUrl: 'https://idp.example.com/jwks' })).rejects.toThrow(/exactly one/);
      await expect(bad({ algorithms: ['RS256'] })).rejects.toThrow(/not a PEM public key/);
      await expect(
        TokenService.create(
          options({ external: external({ jwksUrl: 'http://idp.example.com/jwks', publicKeyFile: undefined }) }),
        ),
      ).rejects.toThrow(/https/);
    });
  });

  describe('with a JWKS URL', () => {
    let server: http.Server;
    let jwksUrl: string;
    let requests = 0;
    let rs: { privateKey: CryptoKey; publicKey: CryptoKey };

    beforeAll(async () => {
      rs = await generateKeyPair('RS256', { extractable: true });
      const jwks = { keys: [{ ...(await exportJWK(rs.publicKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' }] };
      server = http.createServer((req, res) => {
        requests++;
        if (req.url !== '/.well-known/jwks.json') {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('verifies tokens against the fetched key set', async () => {
      const svc = await TokenService.create(
        options({ external: external({ jwksUrl, algorithms: ['RS256'], userClaim: 'user' }) }),
      );
      const token = await sign(idpClaims({ user: 'erin' }), { alg: 'RS256', kid: 'idp-1' }, rs.privateKey);
      expect(await svc.verify(token)).toMatchObject({ user: 'erin', source: 'external', kid: 'idp-1' });
      expect(requests).toBeGreaterThan(0);

      const other = await generateKeyPair('RS256');
      const unknown = await sign(idpClaims({ user: 'erin' }), { alg: 'RS256', kid: 'idp-2' }, other.privateKey);
      await expectRefused(svc.verify(unknown), 'unknown-kid', unknown);
      const forged = await sign(idpClaims({ user: 'root' }), { alg: 'RS256', kid: 'idp-1' }, other.privateKey);
      await expectRefused(svc.verify(forged), 'bad-signature', forged);
      const es = await generateKeyPair('ES256');
      const esToken = await sign(idpClaims({ user: 'erin' }), { alg: 'ES256', kid: 'idp-1' }, es.privateKey);
      await expectRefused(svc.verify(esToken), 'alg-not-allowed', esToken);
      const iss = await sign(
        idpClaims({ user: 'erin', iss: 'https://evil.example/' }),
        { alg: 'RS256', kid: 'idp-1' },
        rs.privateKey,
      );
      await expectRefused(svc.verify(iss), 'alg-not-allowed', iss); // checked as a kvws token: EdDSA only
    });

    it('refuses tokens when the key set cannot be fetched', async () => {
      const svc = await TokenService.create(
        options({ external: external({ jwksUrl: jwksUrl.replace('jwks.json', 'missing'), algorithms: ['RS256'] }) }),
      );
      const token = await sign(idpClaims({ kvws_user: 'erin' }), { alg: 'RS256', kid: 'idp-1' }, rs.privateKey);
      await expectRefused(svc.verify(token), 'unknown-kid', token);
    });
  });
});
