// Public repositories (PUBLIC_REPOS): anyone pulls their charts without a token, over HTTP and
// OCI, with real helm; pushing still needs a token; other repositories still challenge; the audit
// line says `public`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { auditLines, disposeAfter, helm, helmEnv, keygen, makeChartRepo, mint, startWorker, tmp } from "./harness.mjs";

const started = disposeAfter(after);
let key, w, chart;

before(async () => {
  key = keygen();
  w = await startWorker({ JWKS: key.jwks, PUBLIC_REPOS: "oss/*" }, { port: 0 });
  started.push(w);
  chart = makeChartRepo("open", "1.0.0");
  const push = mint(key, "artifact-repository:oss/charts:push");
  const res = await fetch(`${w.url}/api/oss/charts/charts`, { method: "POST", headers: { Authorization: `Bearer ${push}` }, body: chart.tgz });
  assert.equal(res.status, 201, await res.text());
});

test("helm without credentials: repo add, pull over HTTP, and pull oci:// (no login)", async () => {
  const env = helmEnv();
  helm(["repo", "add", "oss", `${w.url}/oss/charts`], { env });
  const http = tmp("public-http");
  helm(["pull", "oss/open", "--version", "1.0.0", "--destination", http], { env });
  assert.deepEqual(readFileSync(join(http, chart.file)), chart.tgz);
  const oci = tmp("public-oci");
  const host = w.url.replace(/^http:\/\//, "");
  helm(["pull", `oci://${host}/oss/charts/open`, "--version", "1.0.0", "--plain-http", "--destination", oci], { env });
  assert.deepEqual(readFileSync(join(oci, chart.file)), chart.tgz);
  await new Promise((r) => setTimeout(r, 300)); // the worker's log lines arrive asynchronously
  const lines = auditLines(w.logs).filter((l) => l.path === "/oss/charts/index.yaml");
  assert.ok(lines.length > 0 && lines.every((l) => l.reason === "public"), JSON.stringify(lines));
});

test("pushing a public repository needs a token; other repositories still challenge", async () => {
  const upload = await fetch(`${w.url}/api/oss/charts/charts`, { method: "POST", body: chart.tgz });
  assert.equal(upload.status, 401);
  assert.match(upload.headers.get("www-authenticate"), /scope="artifact-repository:oss\/charts:push"/);
  const put = await fetch(`${w.url}/v2/oss/charts/open/manifests/2.0.0`, { method: "PUT", body: "{}" });
  assert.equal(put.status, 401);
  const root = await fetch(`${w.url}/v2/`);
  assert.equal(root.status, 200, "registry clients proceed anonymously when some repository is public");
  const other = await fetch(`${w.url}/org1/repo1/index.yaml`);
  assert.equal(other.status, 401);
  assert.match(other.headers.get("www-authenticate"), /scope="artifact-repository:org1\/repo1:pull"/);
  const prefix = await fetch(`${w.url}/ossx/charts/index.yaml`);
  assert.equal(prefix.status, 401, "oss/* does not match ossx/…");
});
