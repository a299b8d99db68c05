/**
 * The JWT corpus: claim sets and headers the test signs with the server's own key (so that the checks after
 * the signature are reached too), and fixed nasty token texts. `{NOW}` in a claim is replaced by the current
 * Unix time in seconds at run time.
 */

/** Headers to sign under (kvws issues `{"alg":"EdDSA","kid":…,"typ":"JWT"}`). `{KID}` is the key's id. */
export const JWT_HEADERS: Record<string, unknown>[] = [
  { alg: 'EdDSA', kid: '{KID}', typ: 'JWT' },
  { alg: 'EdDSA', kid: '{KID}' },
  { alg: 'Ed25519', kid: '{KID}', typ: 'JWT' },
  { alg: 'EdDSA', kid: '{KID}', crit: ['exp'] },
  { alg: 'EdDSA', kid: '{KID}', b64: false, crit: ['b64'] },
  { alg: 'EdDSA', kid: '{KID}', jku: 'https://evil.example/jwks.json' },
  { alg: 'EdDSA', kid: '{KID}', jwk: { kty: 'OKP', crv: 'Ed25519', x: 'AAAA' } },
  { alg: 'EdDSA', kid: '../../../../etc/passwd' },
  { alg: 'EdDSA' },
];

/** Claim sets: valid ones for existing and missing users, with `acl` claims, and odd ones. */
export const JWT_CLAIMS: Record<string, unknown>[] = [
  { iss: 'kvws', aud: 'kvws', sub: 'default', user: 'default', iat: '{NOW}', exp: '{NOW+600}', jti: 'a' },
  { iss: 'kvws', aud: 'kvws', sub: 'tok', user: 'tok', iat: '{NOW}', exp: '{NOW+600}', acl: '~tok:* +get' },
  { iss: 'kvws', aud: ['kvws', 'other'], sub: 'tok', exp: '{NOW+60}', acl: '(~a +get) (~b +set)' },
  { iss: 'kvws', aud: 'kvws', user: 'ghost', exp: '{NOW+600}' },
  { iss: 'kvws', aud: 'kvws', user: 'tok', exp: '{NOW+600}', tenant: 'acme', n: 5 },
  { iss: 'kvws', aud: 'kvws', user: 'default', exp: '{NOW-600}' },
  { iss: 'kvws', aud: 'kvws', user: 'default', exp: '{NOW+600}', nbf: '{NOW+600}' },
  { iss: 'kvws', aud: 'kvws', user: 'default', exp: '{NOW+600}', iat: '{NOW+600}' },
  { iss: 'kvws', aud: 'kvws', user: 'default' },
  { iss: 'other', aud: 'kvws', user: 'default', exp: '{NOW+600}' },
  { iss: 'kvws', aud: 'nope', user: 'default', exp: '{NOW+600}' },
  { iss: 'kvws', aud: 'kvws', exp: '{NOW+600}' },
  { iss: 'kvws', aud: 'kvws', user: 'tok', exp: '{NOW+600}', acl: ['+@all'] },
  { iss: 'kvws', aud: 'kvws', user: 'tok', exp: '{NOW+600}', acl: '+nosuchcommand ~(' },
];

/** Fixed nasty token texts (signature or not): shapes, encodings, algorithms, sizes. */
export const JWT_NASTY: string[] = [
  '',
  '.',
  '..',
  '...',
  'a.b',
  'a.b.c.d',
  'eyJ',
  'eyJ.eyJ.',
  'eyJhbGciOiJub25lIn0.eyJ1c2VyIjoiZGVmYXVsdCIsImV4cCI6OTk5OTk5OTk5OX0.',
  'eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJ1c2VyIjoiZGVmYXVsdCIsImV4cCI6OTk5OTk5OTk5OX0.',
  'eyJhbGciOiJOT05FIn0.eyJ1c2VyIjoiZGVmYXVsdCIsImV4cCI6OTk5OTk5OTk5OX0.',
  'eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyIjoiZGVmYXVsdCIsImV4cCI6OTk5OTk5OTk5OX0.c2lnbmF0dXJl',
  'eyJhbGciOiJSUzI1NiJ9.eyJ1c2VyIjoiZGVmYXVsdCIsImV4cCI6OTk5OTk5OTk5OX0.c2lnbmF0dXJl',
  'eyJhbGciOiJFZERTQSJ9.eyJ1c2VyIjoiZGVmYXVsdCJ9.c2ln',
  'eyJhbGciOiJFZERTQSIsImtpZCI6W119.e30.c2ln',
  'eyJhbGciOiJFZERTQSIsImtpZCI6e319.e30.c2ln',
  'eyJhbGciOiJFZERTQSIsImtpZCI6bnVsbH0.e30.c2ln',
  'eyJhbGciOlsiRWREU0EiXX0.e30.c2ln',
  'eyJ9.e30.c2ln',
  'eyJhbGciOiJFZERTQSJ9.W10.c2ln',
  'eyJhbGciOiJFZERTQSJ9.bnVsbA.c2ln',
  'eyJhbGciOiJFZERTQSJ9.Ig.c2ln',
  'eyJhbGciOiJFZERTQSJ9.e30=.c2ln',
  'eyJhbGciOiJFZERTQSJ9+.e30.c2ln',
  'eyJhbGciOiJFZERTQSJ9.e30.c2ln==',
  'eyJhbGciOiJFZERTQSJ9.e30.c2ln/+',
  'eyJhbGciOiJFZERTQSJ9 .e30.c2ln',
  '\0eyJhbGciOiJFZERTQSJ9.e30.c2ln',
  `eyJhbGciOiJFZERTQSJ9.${'e'.repeat(9000)}.c2ln`,
  `eyJhbGciOiJFZERTQSJ9.${'A'.repeat(8100)}.c2ln`,
  `${'eyJ'.repeat(3000)}.e30.c2ln`,
  'Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln',
  'ZXlK.ZXlK.ZXlK',
];
