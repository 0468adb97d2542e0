// Writes the attack corpus: tests/security/{jwks.json,settings.json,tokens.json,paths.json}.
// Run it only to change the corpus (`node tests/security/make-corpus.mjs`); the files are
// committed, and every front end (native engine, worker in workerd, inspector wasm) is tested
// against the expectations written here, not against each other.
//
// Keys are fresh on each run (the private halves are not kept): the corpus and its JWKS are
// regenerated together. Tokens use fixed dates far from now, so no expectation depends on the
// clock: valid ones expire in 2100, expired ones in 2023.
import { createHmac, createPublicKey, generateKeyPairSync, sign } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const DIR = import.meta.dirname;
const ISSUER = "https://issuer.chartgate.test";
const AUDIENCE = "charts";
const FUTURE = 4102444800; // 2100-01-01
const PAST = 1700000000; // 2023-11-14

const rsa = () => generateKeyPairSync("rsa", { modulusLength: 2048 });
const [k1, k2, attacker] = [rsa(), rsa(), rsa()];
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const jwk = (pair, kid) => ({ ...pair.publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" });
const jwks = { keys: [jwk(k1, "corpus-1"), jwk(k2, "corpus-2")] };
const pem = k1.publicKey.export({ type: "spki", format: "pem" });

const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const rs256 = (key) => (input) => sign("sha256", Buffer.from(input), key.privateKey);
const signers = {
  rs256: rs256(k1),
  other: rs256(attacker),
  rs512: (input) => sign("sha512", Buffer.from(input), k1.privateKey),
  ps256: (input) =>
    sign("sha256", Buffer.from(input), { key: k1.privateKey, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 }),
  es256: (input) => sign("sha256", Buffer.from(input), { key: ec.privateKey, dsaEncoding: "ieee-p1363" }),
  hs256pem: (input) => createHmac("sha256", pem).update(input).digest(),
  hs384pem: (input) => createHmac("sha384", pem).update(input).digest(),
  hs256n: (input) => createHmac("sha256", Buffer.from(jwks.keys[0].n, "base64url")).update(input).digest(),
  none: () => Buffer.alloc(0),
  zeros: () => Buffer.alloc(256),
};

const HEADER = { alg: "RS256", typ: "JWT", kid: "corpus-1" };
const CLAIMS = {
  iss: ISSUER,
  aud: AUDIENCE,
  sub: "corpus",
  iat: PAST,
  exp: FUTURE,
  jti: "corpus-token",
  access: [{ type: "artifact-repository", name: "org1/repo1", actions: ["pull"] }],
};
const access = (name, actions = ["pull"], type = "artifact-repository") => ({ access: [{ type, name, actions }] });

/** A compact JWS from header and payload (objects or raw strings) signed by `signer`. */
function jws({ header = {}, claims = {}, rawHeader, rawClaims, signer = "rs256" } = {}) {
  const h = rawHeader ?? b64({ ...HEADER, ...header });
  const p = rawClaims ?? b64({ ...CLAIMS, ...claims });
  const input = `${h}.${p}`;
  return `${input}.${signers[signer](input).toString("base64url")}`;
}

/** `object` as JSON with one more member, `"note"`, whose string holds raw `bytes`, base64url. */
function withBytes(object, bytes) {
  const json = JSON.stringify(object);
  const parts = [Buffer.from(json.slice(0, -1) + ',"note":"'), Buffer.from(bytes), Buffer.from('"}')];
  return Buffer.concat(parts).toString("base64url");
}

const valid = jws();
const [vh, vp, vs] = valid.split(".");
const attackerJwk = { ...attacker.publicKey.export({ format: "jwk" }), kid: "attacker" };
const deny = (status, reason) => ({ status, reason });
const INVALID = deny(401, "invalid_claim");
const MALFORMED = deny(401, "malformed_token");
const ALG = deny(401, "alg_not_allowed");
const BADSIG = deny(401, "bad_signature");
const SCOPE = deny(403, "insufficient_scope");

// [name, token, expected, options]: options.via (bearer|basic|query), options.path, options.method.
const tokens = [
  ["control: valid pull token", valid, { status: 200 }],
  ["control: valid token as Basic password", valid, { status: 200 }, { via: "basic" }],
  ["control: valid token as ?token=", valid, { status: 200 }, { via: "query" }],
  // Algorithm allow-list.
  ["alg none, empty signature", jws({ header: { alg: "none" }, signer: "none" }), ALG],
  ["alg None", jws({ header: { alg: "None" }, signer: "none" }), ALG],
  ["alg nOnE", jws({ header: { alg: "nOnE" }, signer: "none" }), ALG],
  ["alg none keeping a valid RS256 signature", `${b64({ ...HEADER, alg: "none" })}.${vp}.${vs}`, ALG],
  ["alg missing", jws({ rawHeader: b64({ typ: "JWT", kid: "corpus-1" }) }), MALFORMED],
  ["alg null", jws({ header: { alg: null } }), MALFORMED],
  ["alg rs256 (lower case)", jws({ header: { alg: "rs256" } }), ALG],
  ["alg 'RS256 ' (trailing space)", jws({ header: { alg: "RS256 " } }), ALG],
  ["HS256 keyed with the public key PEM", jws({ header: { alg: "HS256" }, signer: "hs256pem" }), ALG],
  ["HS384 keyed with the public key PEM", jws({ header: { alg: "HS384" }, signer: "hs384pem" }), ALG],
  ["HS256 keyed with the modulus bytes", jws({ header: { alg: "HS256" }, signer: "hs256n" }), ALG],
  ["HS256 header on an RS256 signature", `${b64({ ...HEADER, alg: "HS256" })}.${vp}.${vs}`, ALG],
  ["PS256 by the trusted key", jws({ header: { alg: "PS256" }, signer: "ps256" }), ALG],
  ["RS512 by the trusted key", jws({ header: { alg: "RS512" }, signer: "rs512" }), ALG],
  // ES256 is on the allow-list since trust policies (#24), but the key a token names fixes the
  // algorithm: an ES256 header naming an RSA key is refused before any signature check.
  ["ES256 by an EC key", jws({ header: { alg: "ES256" }, signer: "es256" }), deny(401, "alg_key_mismatch")],
  ["RS256 header on a PSS signature", jws({ signer: "ps256" }), BADSIG],
  // Header-supplied keys are ignored.
  ["jku to an attacker JWKS, attacker kid", jws({ header: { jku: "https://evil.test/jwks.json", kid: "attacker" }, signer: "other" }), deny(401, "unknown_kid")],
  ["jku to an attacker JWKS, trusted kid", jws({ header: { jku: "https://evil.test/jwks.json" }, signer: "other" }), BADSIG],
  ["x5u to an attacker certificate", jws({ header: { x5u: "https://evil.test/cert.pem" }, signer: "other" }), BADSIG],
  ["embedded jwk with the trusted kid", jws({ header: { jwk: attackerJwk }, signer: "other" }), BADSIG],
  ["embedded jwk, no kid (two keys trusted)", jws({ rawHeader: b64({ alg: "RS256", jwk: attackerJwk }), signer: "other" }), deny(401, "kid_required")],
  ["embedded x5c chain", jws({ header: { x5c: ["MIIBkTCB+wIJAK"] }, signer: "other" }), BADSIG],
  // kid handling.
  ["kid path traversal", jws({ header: { kid: "../../../../dev/null" } }), deny(401, "unknown_kid")],
  ["kid SQL injection", jws({ header: { kid: "x' OR '1'='1" } }), deny(401, "unknown_kid")],
  ["kid of 10 KB", jws({ header: { kid: "k".repeat(10240) } }), MALFORMED],
  ["kid of 300 bytes", jws({ header: { kid: "k".repeat(300) } }), MALFORMED],
  ["kid unicode look-alike (Cyrillic с)", jws({ header: { kid: "\u0441orpus-1" } }), deny(401, "unknown_kid")],
  ["kid with a zero-width space", jws({ header: { kid: "corpus-1\u200b" } }), deny(401, "unknown_kid")],
  ["kid with NUL", jws({ header: { kid: "corpus-1\u0000" } }), deny(401, "unknown_kid")],
  ["kid as a number", jws({ header: { kid: 1 } }), MALFORMED],
  ["kid empty", jws({ header: { kid: "" } }), MALFORMED],
  ["no kid while two keys are trusted", jws({ rawHeader: b64({ alg: "RS256", typ: "JWT" }) }), deny(401, "kid_required")],
  ["trusted kid, attacker signature", jws({ signer: "other" }), BADSIG],
  // Header extensions.
  ["crit names an unknown extension", jws({ header: { crit: ["exp"] } }), deny(401, "unsupported_crit")],
  ["b64 false with crit", jws({ header: { b64: false, crit: ["b64"] } }), deny(401, "unsupported_crit")],
  ["b64 false", jws({ header: { b64: false } }), MALFORMED],
  ["typ JWE", jws({ header: { typ: "JWE" } }), MALFORMED],
  ["duplicate alg in the header", jws({ rawHeader: b64('{"alg":"none","kid":"corpus-1","alg":"RS256"}') }), MALFORMED],
  ["header is a JSON array", jws({ rawHeader: b64('["RS256"]') }), MALFORMED],
  ["header is JSON null", jws({ rawHeader: b64("null") }), MALFORMED],
  ["header is not UTF-8", jws({ rawHeader: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString("base64url") }), MALFORMED],
  // Claims (all correctly signed).
  ["duplicate access claim in the payload", jws({ rawClaims: b64(JSON.stringify(CLAIMS).replace("{", '{"access":["org2/secret:pull"],')) }), MALFORMED],
  ["payload is not UTF-8", jws({ rawClaims: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]).toString("base64url") }), MALFORMED],
  ["payload is a JSON array", jws({ rawClaims: b64("[1]") }), MALFORMED],
  // Security round 2, finding 13: invalid UTF-8 in a member the engine ignores (serde skips it).
  ["finding 13: payload with invalid UTF-8 in an ignored member", jws({ rawClaims: withBytes(CLAIMS, [0xff, 0xfe]) }), MALFORMED],
  ["finding 13: payload with an overlong '.' in an ignored member", jws({ rawClaims: withBytes(CLAIMS, [0xc0, 0xae]) }), MALFORMED],
  ["finding 13: payload with a UTF-8 surrogate in an ignored member", jws({ rawClaims: withBytes(CLAIMS, [0xed, 0xa0, 0x80]) }), MALFORMED],
  ["finding 13: header with invalid UTF-8 in an ignored member", jws({ rawHeader: withBytes(HEADER, [0xff]) }), MALFORMED],
  ["exp missing", jws({ rawClaims: b64({ ...CLAIMS, exp: undefined }) }), deny(401, "missing_claim")],
  ["exp as a string", jws({ claims: { exp: String(FUTURE) } }), MALFORMED],
  ["exp as a float", jws({ claims: { exp: FUTURE + 0.5 } }), MALFORMED],
  ["exp negative", jws({ claims: { exp: -1 } }), MALFORMED],
  ["exp 2^63", jws({ rawClaims: b64(JSON.stringify(CLAIMS).replace(String(FUTURE), "9223372036854775808")) }), MALFORMED],
  ["exp 2^64 + 1", jws({ rawClaims: b64(JSON.stringify(CLAIMS).replace(String(FUTURE), "18446744073709551617")) }), MALFORMED],
  ["exp in the past", jws({ claims: { exp: PAST + 3600 } }), deny(401, "expired")],
  ["nbf far in the future", jws({ claims: { nbf: FUTURE - 1 } }), deny(401, "not_yet_valid")],
  ["iat far in the future", jws({ claims: { iat: FUTURE - 1 } }), deny(401, "issued_in_future")],
  ["iss from another issuer", jws({ claims: { iss: "https://evil.test" } }), deny(401, "wrong_issuer")],
  ["iss missing", jws({ rawClaims: b64({ ...CLAIMS, iss: undefined }) }), deny(401, "missing_claim")],
  ["aud for another service", jws({ claims: { aud: "other" } }), deny(401, "wrong_audience")],
  ["aud list without ours", jws({ claims: { aud: ["other", "charts2"] } }), deny(401, "wrong_audience")],
  // Signature bytes.
  ["signature truncated", `${vh}.${vp}.${vs.slice(0, -10)}`, BADSIG],
  ["signature extended", `${vh}.${vp}.${vs}AAAA`, BADSIG],
  ["signature all zeros", jws({ signer: "zeros" }), BADSIG],
  ["signature empty", `${vh}.${vp}.`, BADSIG],
  ["payload swapped under a valid signature", `${vh}.${b64({ ...CLAIMS, ...access("org2/secret") })}.${vs}`, BADSIG],
  ["signature with base64 padding", `${vh}.${vp}.${vs}==`, MALFORMED],
  ["signature in standard base64 (+/)", `${vh}.${vp}.${Buffer.from(vs, "base64url").toString("base64").replace(/=+$/, "")}`, MALFORMED],
  // Shape.
  ["two segments", `${vh}.${vp}`, MALFORMED],
  ["four segments", `${valid}.${vs}`, MALFORMED],
  ["five segments (JWE shape)", `${vh}.${vp}.${vs}.${vs}.${vs}`, MALFORMED],
  ["space inside the token", `${vh}. ${vp}.${vs}`, MALFORMED, { via: "query" }],
  ["newline inside the token", `${vh}.${vp}\n.${vs}`, MALFORMED, { via: "query" }],
  ["padding on the header", `${vh}=.${vp}.${vs}`, MALFORMED],
  ["8 KiB+ token", jws({ claims: { pad: "x".repeat(8200) } }), MALFORMED],
  ["token of one dot", ".", MALFORMED],
  ["non-UTF-8 bytes in ?token=", null, deny(400, "invalid_request"), { via: "query", rawQuery: "token=%FF%FE.%C0%AE" }],
  // Access claims (all correctly signed).
  ["access name *", jws({ claims: access("*") }), INVALID],
  ["access name org1/*", jws({ claims: access("org1/*") }), INVALID],
  ["access name empty", jws({ claims: access("") }), INVALID],
  ["access name with ../", jws({ claims: access("org1/../org1/repo1") }), INVALID],
  ["access name in upper case", jws({ claims: access("ORG1/Repo1") }), INVALID],
  ["access name with a Cyrillic look-alike", jws({ claims: access("\u043erg1/repo1") }), INVALID],
  ["access name with a trailing slash", jws({ claims: access("org1/repo1/") }), INVALID],
  ["control: access action * (Docker's every action) grants pull", jws({ claims: access("org1/repo1", ["*"]) }), { status: 200 }],
  ["access action PULL", jws({ claims: access("org1/repo1", ["PULL"]) }), INVALID],
  ["access of Docker type repository", jws({ claims: access("org1/repo1", ["pull"], "repository") }), SCOPE],
  ["access as a bare string list for another repo", jws({ claims: { access: ["org2/secret:pull"] } }), SCOPE],
  ["token for org1/repo1 on org1/repo10", valid, SCOPE, { path: "/org1/repo10/index.yaml" }],
  ["token for org1/repo1 on org1/repo1x", valid, SCOPE, { path: "/org1/repo1x/index.yaml" }],
  ["token for org1/repo10 on org1/repo1", jws({ claims: access("org1/repo10") }), SCOPE],
  ["token for org1/repo on org1/repo1", jws({ claims: access("org1/repo") }), SCOPE],
  ["token for org1 on org1/repo1", jws({ claims: access("org1") }), SCOPE],
  ["pull token used to push", valid, SCOPE, { method: "POST", path: "/api/org1/repo1/charts" }],
  ["path-bound token on another chart", jws({ claims: { paths: ["/org1/repo1/charts/a-1.0.0.tgz"] } }), deny(403, "path_not_bound")],
  // Transport.
  ["bearer and ?token= together", valid, deny(400, "invalid_request"), { via: "both" }],
  ["?token= twice", null, deny(400, "invalid_request"), { via: "query", rawQuery: `token=${valid}&token=${valid}` }],
  ["Basic with an empty username", valid, deny(400, "invalid_request"), { via: "basic", user: "" }],
];

/** How a front end receives the token: the raw Authorization header and query string. */
function transport(token, { via = "bearer", rawQuery, user = "helm" }) {
  if (rawQuery) return { query: rawQuery };
  const query = `token=${encodeURIComponent(token)}`;
  switch (via) {
    case "bearer": return { authorization: `Bearer ${token}` };
    case "basic": return { authorization: `Basic ${Buffer.from(`${user}:${token}`).toString("base64")}` };
    case "query": return { query };
    case "both": return { authorization: `Bearer ${token}`, query };
  }
  throw new Error(via);
}

const tokenCases = tokens.map(([name, token, expect, opts = {}]) => ({
  name,
  method: opts.method ?? "GET",
  path: opts.path ?? "/org1/repo1/index.yaml",
  ...transport(token, opts),
  expect,
}));

// Hostile paths, each with a valid token for org1/repo1: every one must be refused. `edge` is the
// answer in workerd when its URL parser (WHATWG) rewrites the path before the worker sees it.
const RESOLVED = { status: 403, reason: "insufficient_scope", why: "workerd resolves the dot segments first; the result is outside org1/repo1" };
const BAD = deny(400, "bad_path");
const REG = deny(400, "bad_registry_path");
const REG_RESOLVED = { status: 401, reason: "insufficient_scope", why: "workerd resolves the dot segments first; the OCI name is then outside org1/repo1" };
const paths = [
  ["/org1/repo1/../../org2/secret/index.yaml", BAD, RESOLVED],
  ["/org1/repo1/./../../org2/secret/index.yaml", BAD, RESOLVED],
  ["/org1/repo1/%2e%2e/%2e%2e/org2/secret/index.yaml", BAD, RESOLVED],
  ["/org1/repo1/%2E%2E/%2E%2E/org2/secret/index.yaml", BAD, RESOLVED],
  ["/org1/repo1/.%2e/.%2e/org2/secret/index.yaml", BAD, RESOLVED],
  ["/org1/repo1/charts/../../../org2/secret/charts/x-1.0.0.tgz", BAD, RESOLVED],
  ["/org1/repo1/..\\..\\org2/secret/index.yaml", BAD, RESOLVED],
  ["/org1/repo1/%2e%2e%2f%2e%2e%2forg2/secret/index.yaml", BAD],
  ["/org1/repo1/..%2f..%2forg2/secret/index.yaml", BAD],
  ["/org1/repo1/..%5c..%5corg2/secret/index.yaml", BAD],
  ["/org1/repo1/%252e%252e/%252e%252e/org2/secret/index.yaml", BAD],
  ["/org1/repo1/%25252e%25252e/org2/secret/index.yaml", BAD],
  ["/org1/repo1/%c0%ae%c0%ae/%c0%ae%c0%ae/org2/secret/index.yaml", BAD],
  ["/org1/repo1/%e0%80%ae%e0%80%ae/org2/secret/index.yaml", BAD],
  ["/org1/repo1/%u002e%u002e/org2/secret/index.yaml", BAD],
  ["/org1/repo1/%ef%bc%8e%ef%bc%8e/org2/secret/index.yaml", BAD],
  ["/org1/repo1;/../../org2/secret/index.yaml", BAD, RESOLVED],
  ["/org1/repo1/index.yaml;jsessionid=x", BAD],
  ["/org1;x=1/repo1/index.yaml", BAD],
  ["/org1/repo1/index.yaml%00.tgz", BAD],
  ["/org1/repo1/%00/index.yaml", BAD],
  ["/org1/repo1%2findex.yaml", BAD],
  ["/org1/repo1/%2findex.yaml", BAD],
  ["//org2/secret/index.yaml", BAD],
  ["/org1//repo1/index.yaml", BAD],
  ["/org1/repo1/index.yaml.", BAD],
  ["/org1/repo1./index.yaml", BAD],
  ["/org1/repo1/index.yaml%20", BAD],
  ["/%6frg1/repo1/index.yaml", BAD],
  ["/org1/repo%31/index.yaml", BAD],
  ["/ORG1/REPO1/index.yaml", deny(404, "not_found")],
  ["/org1/repo1/INDEX.YAML", deny(404, "not_found")],
  ["/org1/repo1/charts/x-1.0.0.TGZ", deny(404, "not_found")],
  [`/org1/repo1/charts/${"a".repeat(2100)}.tgz`, BAD],
  [`/org1/repo1/${"x/".repeat(300)}index.yaml`, deny(404, "not_found")],
  [`/org1/repo1/${"x/".repeat(600)}index.yaml`, BAD],
  // The OCI registry's paths (the valid token covers org1/repo1/CHART through its chart repository).
  ["/v2/org1/repo1/../../org2/secret/hello/manifests/1.0.0", REG, REG_RESOLVED],
  ["/v2/org1/repo1/%2e%2e/%2e%2e/org2/secret/hello/manifests/1.0.0", REG, REG_RESOLVED],
  ["/v2/org1%2frepo1/hello/tags/list", REG],
  ["/v2/org1/repo1/hello%2ftags/list", REG],
  ["/v2/ORG1/repo1/hello/tags/list", REG],
  ["/v2/org1/repo1//hello/tags/list", REG],
  ["/v2/org1/repo1/.hello/tags/list", REG],
  ["/v2/org1/repo1/hello/manifests/1.0.0;x=1", REG],
  ["/v2/org1/repo1/hello/manifests/1.0.0%00", REG],
  ["/v2/org1/repo1/hello/manifests/-1.0.0", REG],
  ["/v2/org1/repo1/hello/blobs/sha256:xyz", REG],
  [`/v2/org1/repo1/hello/blobs/sha512:${"a".repeat(64)}`, REG],
  [`/v2/org1/repo1/hello/blobs/md5:${"a".repeat(32)}`, REG],
  [`/v2/org1/repo1/${"a".repeat(300)}/tags/list`, REG],
  ["/v2/org1/repo1/hello/_catalog", deny(404, "bad_registry_path")],
  ["/v2/org1/repo10/hello/tags/list", deny(401, "insufficient_scope")],
  ["/v2/org1/repo1/a/b/tags/list", deny(401, "insufficient_scope")],
  ["/v2/org1/repo1x/hello/tags/list", deny(401, "insufficient_scope")],
].map(([path, expect, edge]) => ({ path, expect, ...(edge ? { edge } : {}) }));

const json = (v) => JSON.stringify(v, null, 1) + "\n";
writeFileSync(join(DIR, "jwks.json"), json(jwks));
writeFileSync(join(DIR, "settings.json"), json({ ISSUER: ISSUER, AUDIENCE: AUDIENCE, LEEWAY: "60" }));
writeFileSync(join(DIR, "tokens.json"), json({ valid, cases: tokenCases }));
writeFileSync(join(DIR, "paths.json"), json(paths));
const hostile = tokenCases.filter((c) => c.expect.status !== 200).length;
console.log(`${tokenCases.length} token cases (${hostile} hostile), ${paths.length} hostile paths`);
