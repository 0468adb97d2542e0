// Issuer load (scripts/load): 200 concurrent clients against `chartgate serve` (release build),
// each from its own loopback address; 10% of them send bad credentials (wrong secret, unknown
// client, broken Basic). Good clients must get a token that verifies against /jwks.json and
// grants what they asked; bad ones must get 401 (then 429 once their address is limited); none
// may see a 5xx. The issuer's output must not contain any secret or issued token.
import { createPublicKey, randomBytes, verify } from "node:crypto";
import { execFileSync, spawn } from "node:child_process";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { ROOT, tmp } from "../edge/harness.mjs";

const CLIENTS = Number(process.env.LOAD_CLIENTS ?? 200);
const PER_CLIENT = Number(process.env.LOAD_PER_CLIENT ?? 25);
const BIN = join(ROOT, process.env.CARGO_TARGET_DIR ?? "target", "release/chartgate");

const dir = tmp("issuer-load");
execFileSync(BIN, ["keygen", "--out", join(dir, "keys")]);
const secret = randomBytes(32).toString("base64url");
const hash = execFileSync(BIN, ["hash-secret", "-"], { input: secret, encoding: "utf8" }).trim();
writeFileSync(join(dir, "chartgate.toml"), `issuer = "https://issuer.load.test"
listen = "127.0.0.1:0"
[[keys]]
private = "keys/private.pem"
[[clients]]
id = "ci"
secret_hash = "${hash}"
scopes = ["artifact-repository:org1/*:pull"]
bearer = true
`);
const issuer = spawn(BIN, ["serve", "--config", join(dir, "chartgate.toml")], { stdio: ["ignore", "pipe", "pipe"] });
let output = "";
issuer.stdout.on("data", (c) => (output += c));
issuer.stderr.on("data", (c) => (output += c));
for (let i = 0; i < 100 && !/listening on http:\/\/[\d.]+:\d+/.test(output); i++) await new Promise((r) => setTimeout(r, 100));
const PORT = Number(output.match(/listening on http:\/\/[\d.]+:(\d+)/)?.[1]);
if (!PORT) throw new Error(`the issuer did not start: ${output}`);
process.on("exit", () => issuer.kill());

const agents = new Map();
function post(client, path, headers) {
  const localAddress = `127.1.${client >> 8}.${(client & 255) + 1}`;
  if (!agents.has(localAddress)) agents.set(localAddress, new Agent({ keepAlive: true, maxSockets: 1, localAddress }));
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request({ host: "127.0.0.1", port: PORT, method: "POST", path, headers, agent: agents.get(localAddress) }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, body, ms: performance.now() - started }));
    });
    req.on("error", reject);
    req.end();
  });
}

const jwks = await new Promise((resolve) => request({ host: "127.0.0.1", port: PORT, path: "/.well-known/jwks.json" }, (res) => {
  let b = "";
  res.on("data", (c) => (b += c));
  res.on("end", () => resolve(JSON.parse(b)));
}).end());
const keys = new Map(jwks.keys.map((k) => [k.kid, createPublicKey({ key: k, format: "jwk" })]));
function grants(token, scope) {
  const [h, p, s] = token.split(".");
  const header = JSON.parse(Buffer.from(h, "base64url"));
  const key = keys.get(header.kid);
  if (!key || header.alg !== "RS256" || !verify("sha256", Buffer.from(`${h}.${p}`), key, Buffer.from(s, "base64url"))) return false;
  const claims = JSON.parse(Buffer.from(p, "base64url"));
  const [, name, actions] = scope.split(":");
  return claims.access.some((a) => a.name === name && a.actions.includes(actions)) && claims.exp > Date.now() / 1000;
}

const basic = (user, pass) => `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
const wrongSecrets = [];
function plan(client, i) {
  const scope = `artifact-repository:org1/app${client % 7}:pull`;
  const path = `/oauth/token?grant_type=client_credentials&scope=${encodeURIComponent(scope)}`;
  if (client % 10 === 3) { // an attacker
    const wrong = randomBytes(24).toString("base64url");
    wrongSecrets.push(wrong);
    const headers = [
      { Authorization: `Bearer ${wrong}` }, { Authorization: basic("ci", wrong) },
      { Authorization: basic("nobody", secret) }, { Authorization: "Basic !!!" },
    ][i % 4];
    return { path, headers, good: false, scope };
  }
  const headers = i % 2 ? { Authorization: `Bearer ${secret}` } : { Authorization: basic("ci", secret) };
  return { path, headers, good: true, scope };
}

const latencies = [];
const issued = [];
let wrong = [], fivexx = 0, limited = 0;
const started = performance.now();
await Promise.all(Array.from({ length: CLIENTS }, async (_, client) => {
  for (let i = 0; i < PER_CLIENT; i++) {
    const p = plan(client, i);
    const res = await post(client, p.path, p.headers);
    latencies.push(res.ms);
    if (res.status >= 500) fivexx++;
    if (p.good) {
      const token = res.status === 200 ? JSON.parse(res.body).access_token : "";
      if (token) issued.push(token);
      if (res.status !== 200 || !grants(token, p.scope)) wrong.push(`client ${client}: ${res.status} ${res.body.slice(0, 80)}`);
    } else {
      if (res.status === 429) limited++;
      if (![400, 401, 429].includes(res.status)) wrong.push(`attacker ${client}: ${res.status}`);
    }
  }
}));
const seconds = (performance.now() - started) / 1000;
issuer.kill();
await new Promise((r) => setTimeout(r, 200));
for (const a of agents.values()) a.destroy();

latencies.sort((a, b) => a - b);
const pct = (q) => Number(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(1));
const secrets = [secret, ...wrongSecrets, ...issued.flatMap((t) => t.split(".").filter((s) => s.length >= 40))];
const leaks = secrets.filter((s) => output.includes(s)).length;
const summary = {
  clients: CLIENTS, requests: CLIENTS * PER_CLIENT, bad_credential_requests: wrongSecrets.length,
  wrong_decisions: wrong.length, status_5xx: fivexx, rate_limited_429: limited, tokens_verified: issued.length,
  p50_ms: pct(0.5), p99_ms: pct(0.99), seconds: Number(seconds.toFixed(1)), secret_leaks: leaks,
};
console.log(JSON.stringify(summary));
if (wrong.length) console.error(wrong.slice(0, 10).join("\n"));
process.exit(!wrong.length && !fivexx && !leaks && issued.length > 0 ? 0 : 1);
