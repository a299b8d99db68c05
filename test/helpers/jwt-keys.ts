import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { base64url, type CryptoKey, exportJWK, generateKeyPair } from 'jose';

/** A signing key the test holds, written as kvws's keys file so the server accepts what the test signs. */
export interface TestSigner {
  kid: string;
  key: CryptoKey;
  /** The raw Ed25519 public key (for "HS256 signed with the public key" attacks). */
  publicBytes: Uint8Array;
  /** The keys file to pass as `--jwt-keys-file`. */
  keysFile: string;
}

/**
 * Makes an Ed25519 key and writes `<dir>/jwt-keys.json` in kvws's keys-file format (version 1, mode 0600),
 * so a server started with `--jwt-keys-file` verifies tokens the test signs with `key` and `kid`, exactly as
 * `kvws token issue` would sign them.
 */
export async function writeTestKeysFile(dir: string, kid: string): Promise<TestSigner> {
  const { privateKey } = await generateKeyPair('Ed25519', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const publicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
  const keysFile = path.join(dir, 'jwt-keys.json');
  writeFileSync(
    keysFile,
    JSON.stringify({
      version: 1,
      keys: [{ kid, createdAt: Date.now(), privateJwk: { ...publicJwk, d: jwk.d }, publicJwk }],
    }),
    { mode: 0o600 },
  );
  return { kid, key: privateKey, publicBytes: base64url.decode(jwk.x as string), keysFile };
}
