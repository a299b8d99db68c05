import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import {
  type CryptoKey,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  exportJWK,
  generateKeyPair,
  importJWK,
  importSPKI,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  SignJWT,
} from 'jose';
import { z } from 'zod';
import { isLoopbackHost } from '../config.js';

/**
 * The token half of kvws's authentication: kvws issues short-lived Ed25519 (EdDSA) JWTs from keys kept in a
 * JSON keys file, and verifies them, or tokens from one external identity provider (a JWKS URL or a PEM
 * public key), for AUTH, the WebSocket `auth` frame and the HTTP API. Every refusal is a TokenError with a
 * stable code; no message ever contains the token.
 */

export interface JwtOptions {
  /** `iss` of tokens kvws issues (default "kvws") and `aud` (default "kvws"). */
  issuer: string;
  audience: string;
  /** JSON file holding kvws's signing keys (created with mode 0600 when missing); undefined = keys kept in memory only (tokens die with the process). */
  keysFile?: string;
  /** Seconds; lifetime when the caller asks for none (default 900), and the maximum accepted at issue (default 86400). */
  defaultTtl: number;
  maxTtl: number;
  /** Seconds of clock skew tolerated for exp/nbf/iat (default 30). */
  clockSkew: number;
  /** Largest token accepted, in bytes (default 8192): bigger ones are refused before any parsing. */
  maxTokenBytes: number;
  /** Tokens from an external identity provider (optional). */
  external?: {
    /** Fetched with jose's createRemoteJWKSet. https, or http on a loopback host only. */
    jwksUrl?: string;
    /** PEM (SPKI) public key, alternative to jwksUrl. */
    publicKeyFile?: string;
    /** Required; must differ from `issuer`. */
    issuer: string;
    /** Required. */
    audience: string;
    /** Allow-list, e.g. ["RS256","ES256","EdDSA"]; asymmetric algorithms only (never "none", never HS*). */
    algorithms: string[];
    /** Claim naming the kvws user (default "user"). */
    userClaim: string;
    /** kvws user for external tokens without that claim; absent → refused. */
    defaultUser?: string;
  };
}

/** The defaults documented on JwtOptions, for the config layer. */
export const JWT_DEFAULTS = {
  issuer: 'kvws',
  audience: 'kvws',
  defaultTtl: 900,
  maxTtl: 86400,
  clockSkew: 30,
  maxTokenBytes: 8192,
  userClaim: 'user',
} as const;

export interface VerifiedToken {
  /** The kvws user the token acts as. kvws tokens: claim `user`, else `sub`. External: `userClaim`, else defaultUser. */
  user: string;
  /** All claims (for ACL pattern templates such as `~session:{sub}:*`). */
  claims: Record<string, unknown>;
  /** The `acl` claim (string of ACL rules that narrow the user's rights), or null. */
  acl: string | null;
  /** exp in Unix ms. */
  expiresAt: number;
  source: 'kvws' | 'external';
  kid?: string;
}

export type TokenErrorCode =
  | 'malformed'
  | 'too-large'
  | 'alg-not-allowed'
  | 'bad-signature'
  | 'unknown-kid'
  | 'expired'
  | 'not-yet-valid'
  | 'bad-issuer'
  | 'bad-audience'
  | 'no-user'
  | 'no-exp'
  | 'ttl-too-long';

const DEFAULT_MESSAGES: Record<TokenErrorCode, string> = {
  malformed: 'the token is malformed',
  'too-large': 'the token is too large',
  'alg-not-allowed': 'the token signature algorithm is not allowed',
  'bad-signature': 'the token signature is invalid',
  'unknown-kid': 'the token was signed with an unknown key',
  expired: 'the token has expired',
  'not-yet-valid': 'the token is not valid yet',
  'bad-issuer': 'the token issuer is not accepted',
  'bad-audience': 'the token audience is not accepted',
  'no-user': 'the token names no user',
  'no-exp': 'the token has no expiry (exp)',
  'ttl-too-long': 'the requested token lifetime exceeds the maximum',
};

/** A refused token (or token request). `message` is human-readable and never includes the token. */
export class TokenError extends Error {
  readonly code: TokenErrorCode;
  constructor(code: TokenErrorCode, message: string = DEFAULT_MESSAGES[code], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TokenError';
    this.code = code;
  }
}

/** Cheap shape test used by AUTH to tell a token from a password: three base64url segments, header starts with eyJ. */
export function looksLikeJwt(s: string): boolean {
  // The signature may be empty so that `alg: none` tokens reach verify() and are refused as tokens.
  return /^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(s);
}

// ---- keys file ---------------------------------------------------------------------------------------------------

const PublicJwkSchema = z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string().min(1) });
const PrivateJwkSchema = PublicJwkSchema.extend({ d: z.string().min(1) });
const KeysFileSchema = z.object({
  version: z.literal(1),
  keys: z
    .array(
      z.object({
        kid: z.string().min(1),
        createdAt: z.number().int().nonnegative(),
        privateJwk: PrivateJwkSchema,
        publicJwk: PublicJwkSchema,
      }),
    )
    .min(1)
    .refine((keys) => keys.every((k) => k.privateJwk.x === k.publicJwk.x), 'a privateJwk does not match its publicJwk')
    .refine((keys) => new Set(keys.map((k) => k.kid)).size === keys.length, 'duplicate kid'),
});

/** One entry of the keys file, as stored. */
export type KeyRecord = z.infer<typeof KeysFileSchema>['keys'][number];

/** A key ready to use: the stored record and its imported halves. */
interface LoadedKey {
  record: KeyRecord;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

/** Reads and validates a keys file. Throws (ENOENT, bad JSON, schema error) with a message naming the file. */
async function readKeysFile(file: string): Promise<KeyRecord[]> {
  const text = await readFile(file, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${file}: not valid JSON`);
  }
  const parsed = KeysFileSchema.safeParse(json);
  if (!parsed.success)
    throw new Error(`${file}: not a kvws keys file (${parsed.error.issues[0]?.message ?? 'invalid'})`);
  return [...parsed.data.keys].sort((a, b) => a.createdAt - b.createdAt);
}

/**
 * Writes `keys` to a temporary file (mode 0600, fsynced) next to `file`, then moves it into place: with
 * `exclusive`, by hard link, which fails with EEXIST when `file` already exists; otherwise by rename, which
 * replaces it atomically. Creates the parent directory (mode 0700) when missing.
 */
async function writeKeysFile(file: string, keys: KeyRecord[], exclusive: boolean): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const body = `${JSON.stringify({ version: 1, keys }, null, 2)}\n`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(body, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    if (exclusive) await link(tmp, file);
    else await rename(tmp, file);
  } finally {
    await unlink(tmp).catch(() => {}); // after a link, or when the rename failed
  }
}

/** A fresh Ed25519 key with a random kid (base64url of 9 random bytes). */
async function newKeyRecord(now: number): Promise<KeyRecord> {
  const { privateKey } = await generateKeyPair('Ed25519', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const privateJwk = PrivateJwkSchema.parse(jwk);
  const { d: _d, ...publicJwk } = privateJwk;
  return { kid: randomBytes(9).toString('base64url'), createdAt: now, privateJwk, publicJwk };
}

/** Imports both halves of each record. Throws when a JWK is not a usable Ed25519 key. */
async function loadKeys(records: KeyRecord[]): Promise<LoadedKey[]> {
  return Promise.all(
    records.map(async (record) => ({
      record,
      privateKey: (await importJWK(record.privateJwk, 'EdDSA')) as CryptoKey,
      publicKey: (await importJWK(record.publicJwk, 'EdDSA')) as CryptoKey,
    })),
  );
}

/**
 * The keys still worth keeping after a rotation (sorted by createdAt): the newest, and each older key whose
 * successor was created at most `maxTtl + clockSkew` seconds before the newest. A key signs until its
 * successor appears, so its last tokens expire `maxTtl` (plus skew) after that.
 */
function pruneKeys(keys: KeyRecord[], maxTtl: number, clockSkew: number): KeyRecord[] {
  const newest = keys[keys.length - 1];
  return keys.filter((_key, i) => {
    const successor = keys[i + 1];
    return successor === undefined || newest.createdAt - successor.createdAt <= (maxTtl + clockSkew) * 1000;
  });
}

// ---- external identity provider ---------------------------------------------------------------------------------

const ASYMMETRIC_ALGORITHMS = new Set([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);

/** Reserved claims issue() sets itself; `claims` may not name them. */
/** Claims kvws sets itself; `issue()` refuses them in `claims`. */
export const RESERVED_CLAIMS: ReadonlySet<string> = new Set([
  'iss',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
  'sub',
  'user',
  'acl',
]);

/** After an unknown kid, verify() re-reads the keys file at most this often (another process may have rotated). */
const LAZY_RELOAD_INTERVAL_MS = 10_000;

interface ExternalVerifier {
  issuer: string;
  audience: string;
  algorithms: string[];
  userClaim: string;
  defaultUser?: string;
  getKey: JWTVerifyGetKey;
}

/** Builds the external verifier. Throws on an invalid configuration (bad algorithm, URL, key file). */
async function createExternal(ext: NonNullable<JwtOptions['external']>, kvwsIssuer: string): Promise<ExternalVerifier> {
  if (!ext.issuer) throw new Error('external JWT issuer is required');
  if (!ext.audience) throw new Error('external JWT audience is required');
  if (ext.issuer === kvwsIssuer)
    throw new Error(`external JWT issuer must differ from kvws's own issuer "${kvwsIssuer}"`);
  if (ext.algorithms.length === 0) throw new Error('external JWT algorithms must not be empty');
  for (const alg of ext.algorithms) {
    if (!ASYMMETRIC_ALGORITHMS.has(alg)) {
      throw new Error(`external JWT algorithm "${alg}" is not allowed (use ${[...ASYMMETRIC_ALGORITHMS].join(', ')})`);
    }
  }
  if ((ext.jwksUrl === undefined) === (ext.publicKeyFile === undefined)) {
    throw new Error('external JWT needs exactly one of jwksUrl and publicKeyFile');
  }
  const base = {
    issuer: ext.issuer,
    audience: ext.audience,
    algorithms: [...ext.algorithms],
    userClaim: ext.userClaim || JWT_DEFAULTS.userClaim,
    defaultUser: ext.defaultUser,
  };

  if (ext.jwksUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(ext.jwksUrl);
    } catch {
      throw new Error(`external JWKS URL is not a URL: ${ext.jwksUrl}`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
      throw new Error(`external JWKS URL must use https (http only on a loopback host): ${ext.jwksUrl}`);
    }
    const remote = createRemoteJWKSet(url);
    const getKey: JWTVerifyGetKey = async (header, token) => {
      try {
        return await remote(header, token);
      } catch (err) {
        if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
          throw new TokenError('unknown-kid', 'no single key of the external key set matches the token', {
            cause: err,
          });
        }
        throw new TokenError('unknown-kid', 'the external key set could not be fetched', { cause: err });
      }
    };
    return { ...base, getKey };
  }

  const pem = await readFile(ext.publicKeyFile as string, 'utf8');
  const byAlg = new Map<string, CryptoKey>();
  for (const alg of base.algorithms) {
    try {
      byAlg.set(alg, await importSPKI(pem, alg));
    } catch {
      // This algorithm does not fit the key type (e.g. ES256 with an RSA key): tokens using it are refused.
    }
  }
  if (byAlg.size === 0) {
    throw new Error(`${ext.publicKeyFile}: not a PEM public key usable with ${base.algorithms.join(', ')}`);
  }
  const getKey: JWTVerifyGetKey = (header) => {
    const key = byAlg.get(header.alg);
    if (key === undefined) throw new TokenError('alg-not-allowed', 'the token algorithm does not fit the external key');
    return key;
  };
  return { ...base, getKey };
}

// ---- error mapping -----------------------------------------------------------------------------------------------

/** Maps whatever jwtVerify (or a key lookup) threw to a TokenError. */
function toTokenError(err: unknown): TokenError {
  if (err instanceof TokenError) return err;
  if (err instanceof errors.JWTExpired) return new TokenError('expired', undefined, { cause: err });
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'nbf':
      case 'iat':
        return new TokenError('not-yet-valid', undefined, { cause: err });
      case 'iss':
        return new TokenError('bad-issuer', undefined, { cause: err });
      case 'aud':
        return new TokenError('bad-audience', undefined, { cause: err });
      case 'exp':
        if (err.reason === 'missing') return new TokenError('no-exp', undefined, { cause: err });
        break;
    }
    return new TokenError('malformed', `the token's "${err.claim}" claim is invalid`, { cause: err });
  }
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return new TokenError('bad-signature', undefined, { cause: err });
  if (err instanceof errors.JOSEAlgNotAllowed) return new TokenError('alg-not-allowed', undefined, { cause: err });
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    return new TokenError('unknown-kid', undefined, { cause: err });
  }
  // JWSInvalid, JWTInvalid, JOSENotSupported, JWKInvalid, TypeError from a bad header field, …
  return new TokenError('malformed', undefined, { cause: err });
}

/** A claim's value when it is a non-empty string, else undefined. */
function stringClaim(claims: Record<string, unknown>, name: string): string | undefined {
  const v = claims[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

// ---- the service -------------------------------------------------------------------------------------------------

export class TokenService {
  readonly #options: JwtOptions;
  readonly #external: ExternalVerifier | null;
  /** Sorted by createdAt; the last one signs. Never empty. */
  #keys: LoadedKey[];
  #byKid: Map<string, LoadedKey>;
  /** Serializes rotate() and reload(), which both replace #keys. */
  #queue: Promise<unknown> = Promise.resolve();
  #lastLazyReload = 0;

  private constructor(options: JwtOptions, keys: LoadedKey[], external: ExternalVerifier | null) {
    this.#options = options;
    this.#external = external;
    this.#keys = keys;
    this.#byKid = new Map(keys.map((k) => [k.record.kid, k]));
  }

  /**
   * Loads the keys file (or creates it with one fresh Ed25519 key), sets up the external verifier.
   * Throws (an Error naming the problem, never key material) on invalid options, an unreadable or invalid
   * keys file, or an invalid external configuration.
   */
  static async create(options: JwtOptions): Promise<TokenService> {
    const positiveInt = (name: string, v: number) => {
      if (!Number.isInteger(v) || v <= 0) throw new RangeError(`JWT option ${name} must be a positive integer`);
    };
    positiveInt('defaultTtl', options.defaultTtl);
    positiveInt('maxTtl', options.maxTtl);
    positiveInt('maxTokenBytes', options.maxTokenBytes);
    if (!Number.isInteger(options.clockSkew) || options.clockSkew < 0) {
      throw new RangeError('JWT option clockSkew must be a non-negative integer');
    }
    if (options.defaultTtl > options.maxTtl) throw new RangeError('JWT option defaultTtl must not exceed maxTtl');
    if (!options.issuer || !options.audience) throw new RangeError('JWT issuer and audience must not be empty');

    let records: KeyRecord[];
    if (options.keysFile === undefined) {
      records = [await newKeyRecord(Date.now())];
    } else {
      records = await TokenService.#loadOrCreate(options.keysFile);
    }
    const external = options.external ? await createExternal(options.external, options.issuer) : null;
    return new TokenService({ ...options }, await loadKeys(records), external);
  }

  static async #loadOrCreate(file: string): Promise<KeyRecord[]> {
    try {
      return await readKeysFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const records = [await newKeyRecord(Date.now())];
    try {
      await writeKeysFile(file, records, true);
      return records;
    } catch (err) {
      // Another process created it first: use theirs.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readKeysFile(file);
      throw err;
    }
  }

  /** Public keys of every kvws key still accepted, as a JWKS ({keys:[{kty,crv,x,kid,alg:"EdDSA",use:"sig"}]}), oldest first. */
  jwks(): { keys: Record<string, unknown>[] } {
    return {
      keys: this.#keys.map(({ record }) => ({
        kty: record.publicJwk.kty,
        crv: record.publicJwk.crv,
        x: record.publicJwk.x,
        kid: record.kid,
        alg: 'EdDSA',
        use: 'sig',
      })),
    };
  }

  /**
   * Signs a token with the newest key (EdDSA, header kid). ttl in seconds (default defaultTtl, > maxTtl →
   * TokenError 'ttl-too-long'). `sub` defaults to `user`; `claims` are added as they are.
   * Throws TokenError 'no-user' for an empty user, RangeError for a ttl that is not a positive integer or a
   * claim that names a reserved claim (iss aud exp nbf iat jti sub user acl).
   */
  async issue(input: {
    user: string;
    sub?: string;
    acl?: string;
    ttl?: number;
    claims?: Record<string, string | number>;
  }): Promise<{ token: string; expiresAt: number; kid: string }> {
    if (typeof input.user !== 'string' || input.user === '') throw new TokenError('no-user');
    const ttl = input.ttl ?? this.#options.defaultTtl;
    if (!Number.isInteger(ttl) || ttl <= 0) throw new RangeError('token ttl must be a positive integer (seconds)');
    if (ttl > this.#options.maxTtl) {
      throw new TokenError('ttl-too-long', `the token lifetime must not exceed ${this.#options.maxTtl} seconds`);
    }
    const payload: JWTPayload = {};
    for (const [name, value] of Object.entries(input.claims ?? {})) {
      if (RESERVED_CLAIMS.has(name)) throw new RangeError(`claim "${name}" is reserved`);
      if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) {
        throw new RangeError(`claim "${name}" must be a string or a finite number`);
      }
      payload[name] = value;
    }
    payload.user = input.user;
    payload.sub = input.sub ?? input.user;
    if (input.acl !== undefined) payload.acl = input.acl;

    const key = this.#keys[this.#keys.length - 1];
    const iat = Math.floor(Date.now() / 1000);
    const exp = iat + ttl;
    const token = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'EdDSA', kid: key.record.kid, typ: 'JWT' })
      .setIssuer(this.#options.issuer)
      .setAudience(this.#options.audience)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(randomBytes(16).toString('base64url'))
      .sign(key.privateKey);
    return { token, expiresAt: exp * 1000, kid: key.record.kid };
  }

  /**
   * Verifies a kvws or external token (chosen by the unverified `iss`: the external issuer's tokens go to the
   * external key set, all others are checked as kvws tokens). Returns who the token acts as; throws
   * TokenError. Tokens without exp are refused ('no-exp'), `iat` beyond the skew in the future is
   * 'not-yet-valid', an `acl` claim that is not a string is 'malformed'.
   */
  async verify(token: string): Promise<VerifiedToken> {
    if (typeof token !== 'string') throw new TokenError('malformed');
    const max = this.#options.maxTokenBytes;
    if (token.length > max || Buffer.byteLength(token, 'utf8') > max) throw new TokenError('too-large');

    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      if (token.split('.').length !== 3) throw new Error('not three segments');
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch (err) {
      throw new TokenError('malformed', undefined, { cause: err });
    }
    const ext = this.#external;
    const external = ext !== null && unverified.iss === ext.issuer;
    const skew = this.#options.clockSkew;

    let claims: Record<string, unknown>;
    try {
      const result = external
        ? await jwtVerify(token, ext.getKey, {
            algorithms: ext.algorithms,
            issuer: ext.issuer,
            audience: ext.audience,
            clockTolerance: skew,
            requiredClaims: ['exp'],
          })
        : await jwtVerify(token, this.#kvwsKey, {
            algorithms: ['EdDSA'],
            issuer: this.#options.issuer,
            audience: this.#options.audience,
            clockTolerance: skew,
            requiredClaims: ['exp'],
          });
      claims = result.payload as Record<string, unknown>;
    } catch (err) {
      throw toTokenError(err);
    }
    if (typeof claims.iat === 'number' && claims.iat > Date.now() / 1000 + skew) {
      throw new TokenError('not-yet-valid', 'the token was issued in the future');
    }
    const acl = claims.acl;
    if (acl !== undefined && typeof acl !== 'string')
      throw new TokenError('malformed', 'the token\'s "acl" claim is not a string');

    const user = external
      ? (stringClaim(claims, ext.userClaim) ?? ext.defaultUser)
      : (stringClaim(claims, 'user') ?? stringClaim(claims, 'sub'));
    if (user === undefined || user === '') throw new TokenError('no-user');

    const out: VerifiedToken = {
      user,
      claims,
      acl: acl ?? null,
      expiresAt: (claims.exp as number) * 1000,
      source: external ? 'external' : 'kvws',
    };
    if (typeof header.kid === 'string') out.kid = header.kid;
    return out;
  }

  /**
   * Key lookup for kvws tokens (jose calls it after the algorithm check): missing kid → 'malformed', unknown
   * kid → 'unknown-kid' after at most one re-read of the keys file per LAZY_RELOAD_INTERVAL_MS.
   */
  #kvwsKey: JWTVerifyGetKey = async (header) => {
    const kid = header.kid;
    if (typeof kid !== 'string' || kid === '') throw new TokenError('malformed', 'the token header has no kid');
    let key = this.#byKid.get(kid);
    if (key === undefined && this.#options.keysFile !== undefined) {
      const now = Date.now();
      if (now - this.#lastLazyReload >= LAZY_RELOAD_INTERVAL_MS) {
        this.#lastLazyReload = now;
        await this.reload();
        key = this.#byKid.get(kid);
      }
    }
    if (key === undefined) throw new TokenError('unknown-kid');
    return key.publicKey;
  };

  /**
   * Adds a new signing key (it signs from now on); keys retired (superseded) more than maxTtl + clockSkew
   * before the newest are dropped. With a keys file, first re-reads it (so a rotation by another process is
   * kept), then saves it. Returns the new kid. Throws when the file cannot be written (nothing changes then).
   */
  rotate(): Promise<string> {
    return this.#serial(async () => {
      let records = this.#keys.map((k) => k.record);
      const file = this.#options.keysFile;
      if (file !== undefined) {
        try {
          records = await readKeysFile(file);
        } catch {
          // Unreadable: rotate from the keys in memory and rewrite the file.
        }
      }
      const fresh = await newKeyRecord(Math.max(Date.now(), records[records.length - 1].createdAt));
      const next = pruneKeys([...records, fresh], this.#options.maxTtl, this.#options.clockSkew);
      const loaded = await loadKeys(next);
      if (file !== undefined) await writeKeysFile(file, next, false);
      this.#install(loaded);
      return fresh.kid;
    });
  }

  /**
   * Re-reads the keys file (after `kvws token rotate` by another process). Returns true when the keys were
   * replaced by the file's; false without a keys file, or when it is unreadable or invalid (old keys kept).
   */
  reload(): Promise<boolean> {
    return this.#serial(async () => {
      const file = this.#options.keysFile;
      if (file === undefined) return false;
      try {
        this.#install(await loadKeys(await readKeysFile(file)));
        return true;
      } catch {
        return false;
      }
    });
  }

  #install(keys: LoadedKey[]): void {
    this.#keys = keys;
    this.#byKid = new Map(keys.map((k) => [k.record.kid, k]));
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }
}
