// The entry gate at the edge (issue 34): every way a chart version enters (the API upload, a helm
// chart pushed over OCI) opens the archive and checks it as helm will read it, before the ledger
// commits; a refusal names the rule (a stable code) and the file, over both protocols, and leaves
// nothing visible. ENTRY_CHECKS=report accepts and records what would have been refused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CHARTGATE, HELM, disposeAfter, helm, helmEnv, keygen, makeChartRepo, mint, plainHttpFront, runAsync, startWorker, tmp } from "./harness.mjs";

const started = disposeAfter(after);
let key, w, front, reporting;

before(async () => {
  key = keygen();
  w = await startWorker({ JWKS: key.jwks, REALM: "/token" }, { port: 0 });
  started.push(w);
  front = await plainHttpFront(w.url);
  started.push(front);
  reporting = await startWorker({ JWKS: key.jwks, REALM: "/token", ENTRY_CHECKS: "report" }, { port: 0 });
  started.push(reporting);
});

const auth = (scope) => ({ authorization: `Bearer ${mint(key, scope)}` });

/**
 * A chart made by `helm create`, then made hostile by `harm(dir)` and archived with GNU tar as
 * `helm package` lays it out (`<name>/…`): the archive helm would download.
 */
function craftedChart(name, version, harm) {
  const root = tmp("crafted");
  helm(["create", name], { cwd: root });
  writeFileSync(join(root, name, "Chart.yaml"), `apiVersion: v2\nname: ${name}\nversion: ${version}\n`);
  harm(join(root, name));
  const file = join(root, `${name}-${version}.tgz`);
  execFileSync("tar", ["-czf", file, "-C", root, name]);
  return { file, tgz: readFileSync(file) };
}

/** CVE-2025-53547's shape: a Chart.lock that is a symbolic link. */
const symlinkedLock = (dir) => symlinkSync("/etc/passwd", join(dir, "Chart.lock"));

async function upload(base, repo, body) {
  return fetch(`${base}/api/${repo}/charts`, { method: "POST", headers: auth(`artifact-repository:${repo}:pull,push`), body });
}

async function listed(base, repo) {
  const res = await fetch(`${base}/${repo}/index.yaml`, { headers: auth(`artifact-repository:${repo}:pull`) });
  return JSON.parse(await res.text()).entries ?? {};
}

/** A program's exit code and output (harness's runAsync, with the code). */
const run = async (bin, args, opts) => {
  const r = await runAsync(bin, args, opts);
  return { code: r.ok ? 0 : 1, out: r.out };
};

test("a real chart enters over the API and over OCI; helm pulls what it pushed", async () => {
  const chart = makeChartRepo("welcome", "1.0.0");
  assert.equal((await upload(w.url, "org1/gate", chart.tgz)).status, 201);
  const env = helmEnv();
  await run(HELM, ["registry", "login", front.host, "--plain-http", "-u", "token", "--password", mint(key, "artifact-repository:org1/gate:pull,push")], { env });
  const other = makeChartRepo("welcome2", "1.0.0");
  const pushed = await run(HELM, ["push", join(other.dir, other.file), `oci://${front.host}/org1/gate`, "--plain-http"], { env });
  assert.equal(pushed.code, 0, pushed.out);
  const entries = await listed(w.url, "org1/gate");
  assert.deepEqual(Object.keys(entries).sort(), ["welcome", "welcome2"]);
  assert.equal(entries.welcome[0].chartgateEntryRefusals, undefined, "nothing would have been refused");
});

test("the API refuses a symlinked Chart.lock (CVE-2025-53547) with its code and file, and nothing is stored", async () => {
  const bad = craftedChart("lockbomb", "1.0.0", symlinkedLock);
  const res = await upload(w.url, "org1/gate", bad.tgz);
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.match(body.error, /^the entry gate refuses this chart: /);
  const codes = body.refusals.map((r) => r.code);
  assert.ok(codes.includes("symlink") || codes.includes("dependency_not_regular"), JSON.stringify(body));
  assert.ok(body.refusals.some((r) => r.file === "lockbomb/Chart.lock"), JSON.stringify(body));
  assert.equal((await listed(w.url, "org1/gate")).lockbomb, undefined, "not listed");
  const file = await fetch(`${w.url}/org1/gate/charts/lockbomb-1.0.0.tgz`, { headers: auth("artifact-repository:org1/gate:pull") });
  assert.equal(file.status, 404);
});

test("over OCI a crafted chart layer is read like an upload: oras's push is refused with MANIFEST_INVALID and the rule", async () => {
  const bad = craftedChart("orasbomb", "1.0.0", (dir) => {
    // A path outside the chart's directory once helm extracts it is refused too; here a symlink.
    symlinkSync("../../../../etc", join(dir, "templates", "escape"));
  });
  const dir = tmp("oras-gate");
  writeFileSync(join(dir, "config.json"), JSON.stringify({ apiVersion: "v2", name: "orasbomb", version: "1.0.0" }));
  writeFileSync(join(dir, "orasbomb-1.0.0.tgz"), bad.tgz);
  const cfg = ["--plain-http", "--registry-config", join(dir, "auth.json")];
  const login = await run("oras", ["login", front.host, ...cfg, "-u", "token", "-p", mint(key, "artifact-repository:org1/gate:pull,push")]);
  assert.equal(login.code, 0, login.out);
  const pushed = await run(
    "oras",
    ["push", ...cfg, `${front.host}/org1/gate/orasbomb:1.0.0`, "--config", "config.json:application/vnd.cncf.helm.config.v1+json", "orasbomb-1.0.0.tgz:application/vnd.cncf.helm.chart.content.v1.tar+gzip"],
    { cwd: dir },
  );
  assert.notEqual(pushed.code, 0, pushed.out);
  assert.match(pushed.out, /MANIFEST_INVALID|manifest invalid/i);
  assert.match(pushed.out, /entry gate refuses this chart: symlink: orasbomb\/templates\/escape/);
  assert.equal((await listed(w.url, "org1/gate")).orasbomb, undefined, "not listed");
  const manifest = await fetch(`${w.url}/v2/org1/gate/orasbomb/manifests/1.0.0`, { headers: auth("artifact-repository:org1/gate:pull") });
  assert.equal(manifest.status, 404, "no tag");
});

test("over OCI the config's name and version must be the archive's: a mismatch is refused naming both", async () => {
  const chart = makeChartRepo("claimed", "1.0.0");
  const dir = tmp("oras-claim");
  writeFileSync(join(dir, "config.json"), JSON.stringify({ apiVersion: "v2", name: "claimed", version: "2.0.0" }));
  writeFileSync(join(dir, chart.file), chart.tgz);
  const cfg = ["--plain-http", "--registry-config", join(dir, "auth.json")];
  await run("oras", ["login", front.host, ...cfg, "-u", "token", "-p", mint(key, "artifact-repository:org1/gate:pull,push")]);
  const pushed = await run(
    "oras",
    ["push", ...cfg, `${front.host}/org1/gate/claimed:2.0.0`, "--config", "config.json:application/vnd.cncf.helm.config.v1+json", `${chart.file}:application/vnd.cncf.helm.chart.content.v1.tar+gzip`],
    { cwd: dir },
  );
  assert.notEqual(pushed.code, 0, pushed.out);
  assert.match(pushed.out, /version_mismatch/);
  assert.match(pushed.out, /2\.0\.0/);
  assert.match(pushed.out, /1\.0\.0/);
  assert.equal((await listed(w.url, "org1/gate")).claimed, undefined);
});

test("ENTRY_CHECKS=report accepts what it would refuse, lists the codes and logs them", async () => {
  const bad = craftedChart("audited", "1.0.0", symlinkedLock);
  const res = await upload(reporting.url, "org1/audit", bad.tgz);
  assert.equal(res.status, 201, await res.text());
  const entry = (await listed(reporting.url, "org1/audit")).audited[0];
  assert.ok(entry.chartgateEntryRefusals.length > 0, JSON.stringify(entry));
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(reporting.logs.some((l) => l.includes("ENTRY_CHECKS=report") && l.includes("audited 1.0.0")), reporting.logs.join("\n"));
});

test("chartgate check --repo lists what a repository already holds that today's gate would refuse", async () => {
  const good = makeChartRepo("fine", "1.0.0");
  assert.equal((await upload(reporting.url, "org1/audit2", good.tgz)).status, 201);
  const bad = craftedChart("stale", "1.0.0", symlinkedLock);
  assert.equal((await upload(reporting.url, "org1/audit2", bad.tgz)).status, 201, "entered under report");
  const pull = mint(key, "artifact-repository:org1/audit2:pull");
  const check = (...args) => run(CHARTGATE, ["check", "--repo", `${reporting.url}/org1/audit2`, "--token", "-", ...args], { input: pull });
  const text = await check();
  assert.equal(text.code, 1, text.out);
  assert.match(text.out, /fine 1\.0\.0: accepted/);
  assert.match(text.out, /stale 1\.0\.0: would be refused\n  (symlink|dependency_not_regular): stale\/Chart\.lock/);
  assert.match(text.out, /2 versions, 1 would be refused today/);
  const json = JSON.parse((await check("--json")).out);
  assert.deepEqual(json.map((v) => [v.name, v.verdict.verdict]).sort(), [["fine", "accepted"], ["stale", "refused"]]);
  assert.ok(!text.out.includes(pull), "the token is never printed");
});

/** Pushes `tgz` with oras as a helm chart layer of `layerType` under `config` to `ref`. */
async function orasPush(ref, config, tgz, layerType, scope) {
  const dir = tmp("oras-push");
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  writeFileSync(join(dir, "chart.tgz"), tgz);
  const cfg = ["--plain-http", "--registry-config", join(dir, "auth.json")];
  await run("oras", ["login", front.host, ...cfg, "-u", "token", "-p", mint(key, scope)]);
  return run("oras", ["push", ...cfg, `${front.host}/${ref}`, "--config", "config.json:application/vnd.cncf.helm.config.v1+json", `chart.tgz:${layerType}`], { cwd: dir });
}

// Found by an outside attack of this first landing: a chart layer under a config naming no
// chart, or under helm's legacy layer type, was stored as an artifact out of the gate's sight and
// served by `helm pull oci://`; a chart pushed to a name outside every chart repository was never
// gated; an artifact tagged `v1.0.0` shadowed release `1.0.0` for helm.
test("attack regressions: nameless configs, legacy chart layers, names outside chart repositories, other spellings of a release", async () => {
  const bad = craftedChart("shadow", "9.9.9", symlinkedLock);
  const scope = "artifact-repository:org1/gate:pull,push";
  const nameless = await orasPush("org1/gate/shadow:9.9.9", {}, bad.tgz, "application/vnd.cncf.helm.chart.content.v1.tar+gzip", scope);
  assert.notEqual(nameless.code, 0, nameless.out);
  assert.match(nameless.out, /must name the chart and its version/);
  const legacy = await orasPush("org1/gate/shadow:9.9.9", { apiVersion: "v2", name: "shadow", version: "9.9.9" }, bad.tgz, "application/tar+gzip", scope);
  assert.notEqual(legacy.code, 0, legacy.out);
  assert.match(legacy.out, /entry gate refuses this chart: (symlink|dependency_not_regular)/);
  const outside = await orasPush("org1/gate/x/shadow:9.9.9", { apiVersion: "v2", name: "shadow", version: "9.9.9" }, bad.tgz, "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "repository:org1/gate/x/shadow:pull,push");
  assert.notEqual(outside.code, 0, outside.out);
  assert.match(outside.out, /entry gate refuses this chart/);
  const pulled = await fetch(`${w.url}/v2/org1/gate/x/shadow/manifests/9.9.9`, { headers: auth("repository:org1/gate/x/shadow:pull") });
  assert.equal(pulled.status, 404, "nothing tagged");
  // Release 1.0.0, then an artifact tagged v1.0.0: refused as that version's tag.
  const real = makeChartRepo("spelled", "1.0.0");
  assert.equal((await upload(w.url, "org1/gate", real.tgz)).status, 201);
  const dir = tmp("oras-note");
  writeFileSync(join(dir, "note.txt"), "not a chart");
  const cfg = ["--plain-http", "--registry-config", join(dir, "auth.json")];
  await run("oras", ["login", front.host, ...cfg, "-u", "token", "-p", mint(key, scope)]);
  const shadowing = await run("oras", ["push", ...cfg, `${front.host}/org1/gate/spelled:v1.0.0`, "--artifact-type", "application/vnd.example.note", "note.txt:text/plain"], { cwd: dir });
  assert.notEqual(shadowing.code, 0, shadowing.out);
  assert.match(shadowing.out, /version 1\.0\.0|1\.0\.0's|DENIED|denied/);
});
