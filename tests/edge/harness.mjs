// Test harness for the edge worker in workerd (miniflare 4): keys and tokens from the chartgate
// CLI, a real chart made by `helm package`, a local origin and a local JWKS server.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createTcpServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Miniflare, Log, LogLevel } from "miniflare";

// Under the test runner every fetch gets its own connection. Tests block their event loop for
// seconds (execFileSync of helm and tar), long enough for workerd to close idle keep-alive
// connections that undici has not yet seen closed; a POST sent on one fails with "other side
// closed" before it reaches the worker. Benchmarks (plain node, no NODE_TEST_CONTEXT) keep the
// default pool.
if (process.env.NODE_TEST_CONTEXT) {
  const pooled = globalThis.fetch;
  globalThis.fetch = (input, init = {}) => {
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    if (!headers.has("connection")) headers.set("connection", "close");
    return pooled(input, { ...init, headers });
  };
}

export const ROOT = resolve(import.meta.dirname, "../..");
// The debug binary `cargo test` builds, wherever cargo puts it (CARGO_TARGET_DIR is honoured).
export const CHARTGATE =
  process.env.CHARTGATE_BIN ?? join(resolve(ROOT, process.env.CARGO_TARGET_DIR ?? "target"), "debug/chartgate");
export const HELM = process.env.HELM_BIN ?? join(ROOT, ".state/bin/helm");
/** helm 3 (scripts/lib.sh `ensure_helm3`), for the OCI tests. */
export const HELM3 = process.env.HELM3_BIN ?? join(ROOT, ".state/bin/helm3");

/** `sha256:<hex>` of bytes, as OCI digests are written. */
export const sha256 = (b) => "sha256:" + createHash("sha256").update(b).digest("hex");
/** The media types of a helm chart's OCI form. */
export const HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json";
export const HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
export const HELM_PROV = "application/vnd.cncf.helm.chart.provenance.v1.prov";
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

/**
 * A provenance file's shape (not a real signature): the chart's name and version, then the signed
 * `files:` block binding it to `tgz`'s digest, as `helm package --sign` writes it; `signature`
 * stands for the armored signature block.
 */
export function provOf(name, version, tgz, signature = "AAAA") {
  const digest = createHash("sha256").update(tgz).digest("hex");
  return `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\napiVersion: v2\nname: ${name}\nversion: ${version}\n\n...\nfiles:\n  ${name}-${version}.tgz: sha256:${digest}\n-----BEGIN PGP SIGNATURE-----\n\n${signature}\n-----END PGP SIGNATURE-----\n`;
}

export const tmp = (name) => mkdtempSync(join(tmpdir(), `chartgate-${name}-`));

export function chartgate(...args) {
  return execFileSync(CHARTGATE, args, { encoding: "utf8" }).trim();
}

/** A fresh signing key: { dir, private, jwks (text), kid }. */
export function keygen() {
  const dir = tmp("keys");
  const out = chartgate("keygen", "--out", dir);
  return {
    dir,
    private: join(dir, "private.pem"),
    jwks: readFileSync(join(dir, "jwks.json"), "utf8"),
    kid: out.match(/^kid (\S+)/m)[1],
  };
}

// Secrets hygiene for every test file that uses this harness: each token minted here and each
// worker's log lines are remembered, and the file fails if any log line carries a token.
const minted = [];
const workerLogs = [];
process.on("exit", () => {
  const text = workerLogs.flat().join("\n");
  const leaked = minted.filter((t) => t.split(".").some((part) => part.length >= 40 && text.includes(part)));
  if (leaked.length) {
    console.error(`secrets hygiene: ${leaked.length} minted token(s) appear in worker logs`);
    process.exitCode = 1;
  }
});

/** Mints a token with the CLI. */
export function mint(key, scope, { ttl = "5m", now, sub = "tester", extra = [] } = {}) {
  const args = ["token", "--key", key.private, "--scope", scope, "--ttl", ttl, "--sub", sub, ...extra];
  if (now !== undefined) args.push("--now", String(now));
  const token = chartgate(...args);
  minted.push(token);
  return token;
}

/** Helm environment isolated in a temp dir. */
export function helmEnv() {
  const home = tmp("helm");
  return {
    ...process.env,
    HELM_CACHE_HOME: join(home, "cache"),
    HELM_CONFIG_HOME: join(home, "config"),
    HELM_DATA_HOME: join(home, "data"),
  };
}

export function helm(args, { env = helmEnv(), input, cwd, bin = HELM } = {}) {
  return execFileSync(bin, args, { env, input, cwd, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
}

/**
 * Runs a program without blocking this process (for servers that run here, such as
 * `plainHttpFront` or a local OIDC provider): resolves to `{ ok, out }`, `out` being stdout and
 * stderr together.
 */
export function runAsync(bin, args, { env = process.env, input, cwd } = {}) {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { env, cwd, timeout: 60_000 });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => resolve({ ok: code === 0, out }));
    child.stdin.on("error", () => {}); // a program that exits without reading its input
    child.stdin.end(input ?? "");
  });
}

/** [`runAsync`] of helm (`bin`, helm 4 by default) in an isolated environment. */
export function helmAsync(args, { env = helmEnv(), input, bin = HELM } = {}) {
  return runAsync(bin, args, { env, input });
}

/** Runs `h.bin` (`{name, bin}`) with `args`, asserts it succeeded, and resolves to its output. */
export async function helmOk(h, args, opts) {
  const r = await runAsync(h.bin, args, opts);
  if (!r.ok) throw new Error(`${h.name} ${args.join(" ")}:\n${r.out}`);
  return r.out;
}

/** Runs `h.bin` with `args`, asserts it failed, and resolves to its output. */
export async function helmFails(h, args, opts) {
  const r = await runAsync(h.bin, args, opts);
  if (r.ok) throw new Error(`${h.name} ${args.join(" ")} should have failed:\n${r.out}`);
  return r.out;
}

/** A TCP port free on loopback now (for a server that must be named before it starts). */
export const freePort = () =>
  new Promise((resolve) => {
    const s = createTcpServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** A real chart repository made with helm: { dir, tgz (bytes), index (text), file }. */
export function makeChartRepo(name = "hello", version = "0.1.0", packageArgs = []) {
  const dir = tmp("chart");
  helm(["create", name], { cwd: dir });
  const out = join(dir, "repo");
  mkdirSync(out);
  helm(["package", join(dir, name), "--version", version, "--destination", out, ...packageArgs]);
  helm(["repo", "index", out]);
  const file = `${name}-${version}.tgz`;
  return { dir: out, file, tgz: readFileSync(join(out, file)), index: readFileSync(join(out, "index.yaml"), "utf8") };
}

/**
 * A GnuPG signing key for `helm package --sign`, in the legacy keyring files helm reads:
 * `{ name, secring, pubring }`. Its agent is stopped once the rings are written.
 */
export function signingKey(name = "chartgate test signer") {
  const home = tmp("gpg");
  const env = { ...process.env, GNUPGHOME: home };
  const gpg = (...args) => execFileSync("gpg", ["--batch", "--pinentry-mode", "loopback", "--passphrase", "", ...args], { env, stdio: ["ignore", "pipe", "ignore"] });
  gpg("--quick-gen-key", `${name} <signer@example.invalid>`, "rsa2048", "sign", "never");
  const secring = join(home, "secring.gpg");
  const pubring = join(home, "pubring.gpg");
  writeFileSync(secring, gpg("--export-secret-keys"));
  writeFileSync(pubring, gpg("--export"));
  execFileSync("gpgconf", ["--kill", "gpg-agent"], { env, stdio: "ignore" });
  return { name, secring, pubring };
}

/** A local HTTP server; `handler(req, res)` may be swapped at runtime. Counts requests by path. */
export async function localServer(handler) {
  const state = { handler, hits: new Map() };
  const server = createServer((req, res) => {
    const path = req.url.split("?")[0];
    state.hits.set(path, (state.hits.get(path) ?? 0) + 1);
    state.handler(req, res);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  state.url = `http://127.0.0.1:${server.address().port}`;
  state.close = () => new Promise((r) => server.close(r));
  return state;
}

/**
 * Starts the built worker in workerd. Captures its log lines in `logs`. `others` are extra
 * workers (e.g. a wrapped binding standing in for a failing R2 bucket), `worker` extra options,
 * `shared` options of the whole Miniflare (e.g. `defaultPersistRoot`, so that a later instance
 * finds this one's storage).
 */
export async function startWorker(bindings, { port, kv = true, ledger = true, build = "build", worker = {}, others = [], shared = {} } = {}) {
  const logs = [];
  workerLogs.push(logs);
  const collect = (stream) => {
    let buf = "";
    stream.on("data", (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        logs.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
  };
  const main = {
    name: "chartgate",
    scriptPath: join(ROOT, build, "index.js"),
    modules: true,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    compatibilityDate: "2026-04-20",
    bindings,
    r2Buckets: worker.wrappedBindings?.CHARTS ? [] : ["CHARTS"],
    kvNamespaces: kv ? ["REVOCATIONS"] : [],
    // The repository ledger (wrangler.toml's LEDGER binding): one SQLite Durable Object per repository.
    durableObjects: ledger ? { LEDGER: { className: "RepoLedger", useSQLite: true } } : {},
    ...worker,
  };
  const mf = new Miniflare({
    workers: [main, ...others],
    cf: false,
    log: new Log(LogLevel.WARN),
    handleRuntimeStdio(stdout, stderr) {
      collect(stdout);
      collect(stderr);
    },
    ...(port !== undefined ? { host: "127.0.0.1", port } : {}),
    ...shared,
  });
  const url = await mf.ready;
  return { mf, logs, url: url.toString().replace(/\/$/, "") };
}

/** Audit lines (parsed JSON) from captured logs. */
export function auditLines(logs) {
  return logs
    .map((l) => l.slice(l.indexOf("{")))
    .filter((l) => l.startsWith('{"decision"'))
    .map((l) => JSON.parse(l));
}

export const basic = (user, password) => "Basic " + Buffer.from(`${user}:${password}`).toString("base64");

export function writeFile(dir, name, text) {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
}

/** Disposes, after the file's tests, of what is pushed on the returned list: workers (`mf`) and servers. */
export function disposeAfter(after) {
  const started = [];
  after(async () => {
    for (const s of started) await (s.mf ? s.mf.dispose() : s.close());
  });
  return started;
}

/**
 * Starts `chartgate serve` (issuer `https://issuer.test`, signing with `key`) with clients given
 * as `{id: [scope patterns]}`, each with secret `<id>-secret`, or `{id: {scopes, secret}}`.
 * Resolves to `{url, close}`.
 */
export async function startIssuer(key, clients = { ci: ["artifact-repository:org1/*:pull,push"] }) {
  const dir = tmp("issuer");
  let config = `issuer = "https://issuer.test"\n[[keys]]\nprivate = "${key.private}"\n`;
  for (const [id, client] of Object.entries(clients)) {
    const { scopes, secret } = Array.isArray(client) ? { scopes: client, secret: `${id}-secret` } : client;
    const hash = execFileSync(CHARTGATE, ["hash-secret", "-"], { input: secret, encoding: "utf8" }).trim();
    config += `[[clients]]\nid = "${id}"\nsecret_hash = "${hash}"\nscopes = ${JSON.stringify(scopes)}\n`;
  }
  const path = writeFile(dir, "chartgate.toml", config);
  const child = spawn(CHARTGATE, ["serve", "--config", path, "--listen", "127.0.0.1:0"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const url = await new Promise((resolve, reject) => {
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
      const m = err.match(/listening on (http:\/\/\S+)\s/); // a whole line: stderr may arrive in pieces
      if (m) resolve(m[1]);
    });
    child.on("exit", (code) => reject(new Error(`issuer exited ${code}: ${err}`)));
  });
  return { url, close: async () => child.kill() };
}

/**
 * A loopback TCP front for `url` that answers a TLS ClientHello with a plain HTTP 400 and passes
 * everything else through. helm 3's `registry login` tries https first; workerd's local socket
 * leaves such a handshake hanging for helm's 10 s TLS timeout (and a few of them wedge it), where
 * any real server answers at once. Resolves to `{host, close}`.
 */
export async function plainHttpFront(url) {
  const target = new URL(url);
  const server = createTcpServer((client) => {
    client.once("data", (first) => {
      client.pause();
      if (first[0] === 0x16) {
        client.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      const upstream = connect(Number(target.port), target.hostname, () => {
        upstream.write(first);
        client.pipe(upstream).pipe(client);
      });
      upstream.on("error", () => client.destroy());
      client.on("error", () => upstream.destroy());
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { host: `127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}
