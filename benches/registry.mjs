// The OCI registry against Debian's reference registry (docker-registry 2.8, no auth) on the same
// machine, in one run: helm push and helm pull wall times (real helm 4, median of ROUNDS,
// alternating edge and reference), and GET throughput of a 50 MB blob (first read from R2, then
// from the edge cache). The edge runs the release worker build in workerd (miniflare) with its
// token check, logging in at a real issuer; the reference needs no token. Prints JSON.
import { spawn, execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { auditLines, HELM, helmEnv, keygen, makeChartRepo, mint, startIssuer, startWorker, tmp } from "../tests/edge/harness.mjs";

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const BLOB_MB = Number(process.env.BLOB_MB ?? 50);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function referenceRegistry() {
  const dir = tmp("refreg");
  const port = await freePort();
  const config = join(dir, "config.yml");
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const child = spawn("docker-registry", ["serve", config], { stdio: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${url}/v2/`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, host: `127.0.0.1:${port}`, close: () => child.kill() };
}

function timeHelm(args, env) {
  const t = process.hrtime.bigint();
  execFileSync(HELM, args, { env, stdio: ["pipe", "pipe", "pipe"] });
  return Number(process.hrtime.bigint() - t) / 1e6;
}

async function pushBlob(base, repo, bytes, headers) {
  const digest = "sha256:" + createHash("sha256").update(bytes).digest("hex");
  const post = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: "POST", headers });
  if (post.status !== 202) throw new Error(`POST ${post.status}`);
  const location = new URL(post.headers.get("location"), base);
  location.searchParams.set("digest", digest);
  for (let attempt = 0; ; attempt++) {
    try {
      const put = await fetch(location, {
        method: "PUT",
        headers: { ...headers, "Content-Type": "application/octet-stream", "Content-Length": String(bytes.length) },
        body: bytes,
      });
      if (put.status !== 201) throw new Error(`PUT ${put.status} ${await put.text()}`);
      return digest;
    } catch (e) {
      // Local workerd drops large request bodies now and then (cloudflare/workerd#4660).
      if (attempt >= 2) throw e;
      console.error(`blob PUT failed (${e.message}), retrying`);
    }
  }
}

async function timeGet(url, headers) {
  const t = process.hrtime.bigint();
  const res = await fetch(url, { headers });
  const body = Buffer.from(await res.arrayBuffer());
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (res.status !== 200) throw new Error(`GET ${res.status}`);
  return { ms, bytes: body.length, cache: res.headers.get("x-chartgate-cache") };
}

const key = keygen();
const issuer = await startIssuer(key, { ci: ["artifact-repository:bench/*:pull,push"] });
const worker = await startWorker(
  { JWKS: key.jwks, ISSUER: "https://issuer.test", REALM: `${issuer.url}/token`, SERVICE: "chartgate" },
  { port: 0 },
);
const edgeHost = worker.url.replace(/^http:\/\//, "");
const reference = await referenceRegistry();

try {
  const edgeEnv = helmEnv();
  const refEnv = helmEnv();
  execFileSync(HELM, ["registry", "login", edgeHost, "--plain-http", "-u", "ci", "--password-stdin"], {
    env: edgeEnv,
    input: "ci-secret",
    stdio: ["pipe", "pipe", "pipe"],
  });
  const charts = [];
  const src = makeChartRepo("bench", "0.0.1");
  for (let i = 1; i <= ROUNDS; i++) charts.push(makeChartRepo("bench", `0.1.${i}`));
  void src;

  const settle = () => new Promise((r) => setTimeout(r, 500)); // let the worker's log lines arrive
  await settle();
  const beforePush = auditLines(worker.logs).length;
  const push = { edge: [], reference: [] };
  for (const c of charts) {
    push.reference.push(timeHelm(["push", join(c.dir, c.file), `oci://${reference.host}/bench/charts`, "--plain-http"], refEnv));
    push.edge.push(timeHelm(["push", join(c.dir, c.file), `oci://${edgeHost}/bench/charts`, "--plain-http"], edgeEnv));
  }
  await settle();
  const pushLines = auditLines(worker.logs).slice(beforePush);
  const pull = { edge: [], reference: [] };
  const before = auditLines(worker.logs).length;
  for (let i = 0; i < ROUNDS; i++) {
    const dest = tmp("bench-pull");
    const ref = (host) => [`pull`, `oci://${host}/bench/charts/bench`, "--version", "0.1.1", "--plain-http", "--destination", dest];
    pull.reference.push(timeHelm(ref(reference.host), refEnv));
    execFileSync("rm", ["-f", join(dest, "bench-0.1.1.tgz")]);
    pull.edge.push(timeHelm(ref(edgeHost), edgeEnv));
  }
  await settle();
  const pulls = auditLines(worker.logs).slice(before);
  const perPull = pulls.length / ROUNDS;
  const challenges = pulls.filter((l) => l.status === 401).length / ROUNDS;

  const blob = randomBytes(BLOB_MB * 1024 * 1024);
  const token = mint(key, "repository:bench/blob/x:pull,push", { extra: ["--iss", "https://issuer.test"], ttl: "30m" });
  const auth = { Authorization: `Bearer ${token}` };
  const digest = await pushBlob(reference.url, "bench/blob/x", blob, {});
  await pushBlob(worker.url, "bench/blob/x", blob, auth);
  const gets = { edge_first: null, edge_cached: [], reference: [] };
  for (let i = 0; i < ROUNDS; i++) {
    gets.reference.push((await timeGet(`${reference.url}/v2/bench/blob/x/blobs/${digest}`, {})).ms);
    const r = await timeGet(`${worker.url}/v2/bench/blob/x/blobs/${digest}`, auth);
    if (r.bytes !== blob.length) throw new Error("short read");
    if (r.cache === "HIT") gets.edge_cached.push(r.ms);
    else gets.edge_first = r.ms;
  }
  const mbps = (ms) => BLOB_MB / (ms / 1000);
  // One request's round trip, edge (token checked) vs reference: what each extra request costs.
  const rtt = { edge: [], reference: [] };
  for (let i = 0; i < 50; i++) {
    rtt.reference.push((await timeGet(`${reference.url}/v2/`, {})).ms);
    rtt.edge.push((await timeGet(`${worker.url}/v2/`, auth)).ms);
  }
  const out = {
    rounds: ROUNDS,
    push_ms: { edge: median(push.edge), reference: median(push.reference), edge_runs: push.edge, reference_runs: push.reference },
    pull_ms: { edge: median(pull.edge), reference: median(pull.reference), edge_runs: pull.edge, reference_runs: pull.reference },
    blob_mb: BLOB_MB,
    blob_mbps: {
      reference: mbps(median(gets.reference)),
      edge_first: gets.edge_first === null ? null : mbps(gets.edge_first),
      edge_cached: gets.edge_cached.length ? mbps(median(gets.edge_cached)) : null,
    },
    edge_requests_per_pull: perPull,
    edge_challenges_per_pull: challenges,
    edge_requests_per_push: pushLines.length / ROUNDS,
    edge_challenges_per_push: pushLines.filter((l) => l.status === 401).length / ROUNDS,
    request_ms: { edge: median(rtt.edge), reference: median(rtt.reference) },
  };
  console.log(JSON.stringify(out, null, 2));
} finally {
  reference.close();
  await worker.mf.dispose();
  await issuer.close();
}
