// oras (1.2.0) and skopeo (1.9.3), the real Debian binaries, against the worker's OCI registry
// with a real issuer: a non-chart artifact pushed and pulled, an artifact attached to a chart
// and found through the referrers API (filtered by artifactType), skopeo inspecting a chart and
// copying it between repositories, the second copy by cross-repository mount.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  auditLines,
  disposeAfter,
  HELM,
  helmEnv,
  keygen,
  makeChartRepo,
  plainHttpFront,
  startIssuer,
  startWorker,
  tmp,
} from "./harness.mjs";

const started = disposeAfter(after);
let worker, host, chartDigest;
const home = tmp("clients-home"); // skopeo's blob-info cache (which enables mounts) lives here

before(async () => {
  const key = keygen();
  const issuer = await startIssuer(key, { ci: ["artifact-repository:org1/*:pull,push"] });
  started.push(issuer);
  worker = await startWorker({ JWKS: key.jwks, ISSUER: "https://issuer.test", REALM: `${issuer.url}/token` }, { port: 0 });
  started.push(worker);
  const front = await plainHttpFront(worker.url); // skopeo probes https first, as helm 3 does
  started.push(front);
  host = front.host;
  const env = helmEnv();
  const chart = makeChartRepo("hello", "0.1.0");
  await ok(HELM, ["registry", "login", host, "--plain-http", "-u", "ci", "--password-stdin"], { env, input: "ci-secret" });
  const pushed = await ok(HELM, ["push", join(chart.dir, chart.file), `oci://${host}/org1/repo1`, "--plain-http"], { env });
  chartDigest = pushed.match(/Digest: (sha256:[0-9a-f]{64})/)[1];
});

function run(bin, args, { env = { ...process.env, HOME: home }, input, cwd } = {}) {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { env, cwd, timeout: 60_000 });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => resolve({ code, out }));
    child.stdin.end(input ?? "");
  });
}

async function ok(bin, args, opts) {
  const r = await run(bin, args, opts);
  assert.equal(r.code, 0, `${bin} ${args.join(" ")}:\n${r.out}`);
  return r.out;
}

test("oras: login, push and pull of a non-chart artifact", async () => {
  const dir = tmp("oras");
  const cfg = ["--plain-http", "--registry-config", join(dir, "config.json")];
  writeFileSync(join(dir, "note.txt"), "hello artifact");
  await ok("oras", ["login", host, ...cfg, "-u", "ci", "--password-stdin"], { input: "ci-secret" });
  const pushed = await ok(
    "oras",
    ["push", ...cfg, `${host}/org1/repo1/notes:v1`, "--artifact-type", "application/vnd.example.note", "note.txt:text/plain"],
    { cwd: dir },
  );
  assert.match(pushed, /Pushed/);
  await ok("oras", ["pull", ...cfg, `${host}/org1/repo1/notes:v1`, "-o", join(dir, "out")]);
  assert.equal(readFileSync(join(dir, "out", "note.txt"), "utf8"), "hello artifact");
  const fetched = JSON.parse(await ok("oras", ["manifest", "fetch", ...cfg, `${host}/org1/repo1/notes:v1`]));
  assert.equal(fetched.artifactType, "application/vnd.example.note");
});

test("oras: an artifact whose subject is the chart, listed by the referrers API and filtered by artifactType", async () => {
  const dir = tmp("oras-attach");
  const cfg = ["--plain-http", "--registry-config", join(dir, "config.json")];
  writeFileSync(join(dir, "sig.txt"), "a signature");
  writeFileSync(join(dir, "sbom.json"), "{}");
  await ok("oras", ["login", host, ...cfg, "-u", "ci", "--password-stdin"], { input: "ci-secret" });
  const subject = `${host}/org1/repo1/hello:0.1.0`;
  await ok("oras", ["attach", ...cfg, subject, "--artifact-type", "application/vnd.example.sig", "sig.txt:text/plain"], { cwd: dir });
  await ok("oras", ["attach", ...cfg, subject, "--artifact-type", "application/vnd.example.sbom", "sbom.json"], { cwd: dir });
  const all = JSON.parse(await ok("oras", ["discover", ...cfg, subject, "--format", "json"]));
  assert.equal(all.manifests.length, 2, JSON.stringify(all));
  const sigs = JSON.parse(
    await ok("oras", ["discover", ...cfg, subject, "--artifact-type", "application/vnd.example.sig", "--format", "json"]),
  );
  assert.deepEqual(sigs.manifests.map((m) => m.artifactType), ["application/vnd.example.sig"]);
  // The referrers API answered (no fallback to the referrers tag schema).
  const lines = auditLines(worker.logs);
  assert.ok(lines.some((l) => l.path === `/v2/org1/repo1/hello/referrers/${chartDigest}` && l.status === 200));
  assert.ok(!lines.some((l) => /manifests\/sha256-/.test(l.path ?? "")), "no referrers tag schema");
});

test("skopeo: inspect a chart; copy it to another repository, the second copy by cross-repository mount", async () => {
  const creds = ["--creds", "ci:ci-secret", "--tls-verify=false"];
  const raw = JSON.parse(await ok("skopeo", ["inspect", "--raw", ...creds, `docker://${host}/org1/repo1/hello:0.1.0`]));
  assert.equal(raw.config.mediaType, "application/vnd.cncf.helm.config.v1+json");
  const copy = (to) =>
    ok("skopeo", [
      "copy",
      "--src-tls-verify=false",
      "--dest-tls-verify=false",
      "--src-creds",
      "ci:ci-secret",
      "--dest-creds",
      "ci:ci-secret",
      `docker://${host}/org1/repo1/hello:0.1.0`,
      `docker://${host}/org1/${to}/hello:0.1.0`,
    ]);
  await copy("copy1"); // uploads, and teaches skopeo where the blobs are
  const before = auditLines(worker.logs).length;
  await copy("copy2");
  const mounts = auditLines(worker.logs)
    .slice(before)
    .filter((l) => l.method === "POST" && l.path === "/v2/org1/copy2/hello/blobs/uploads" && l.status === 201);
  // skopeo mounts the blobs its cache knows (the chart layer); the config it uploads again.
  assert.ok(mounts.length >= 1, "a blob mounted from org1/repo1 or org1/copy1");
  const copied = JSON.parse(await ok("skopeo", ["inspect", "--raw", ...creds, `docker://${host}/org1/copy2/hello:0.1.0`]));
  assert.deepEqual(copied, raw);
});
