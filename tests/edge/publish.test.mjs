// Publishing through the edge with no chart server (no ORIGIN_URL): ChartMuseum's API with curl's
// forms (raw body and multipart), index.yaml kept by the edge with no lost update under concurrent
// uploads, deletes that leave nothing downloadable, real helm reading what was published, and
// hostile uploads refused with nothing stored.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { request } from "node:http";
import { disposeAfter, helm, helmEnv, keygen, makeChartRepo, mint, provOf, signingKey, startWorker, tmp } from "./harness.mjs";

const started = disposeAfter(after);
let key, w, base, bucket;
const PUSH = "artifact-repository:org1/repo1:pull,push";

before(async () => {
  key = keygen();
  w = await startWorker({ JWKS: key.jwks }, { port: 0 });
  started.push(w);
  base = w.url;
  bucket = await w.mf.getR2Bucket("CHARTS");
});

const auth = (scope = PUSH) => ({ Authorization: `Bearer ${mint(key, scope)}` });

async function upload(tgz, { headers = auth(), query = "", repo = "org1/repo1" } = {}) {
  return fetch(`${base}/api/${repo}/charts${query}`, {
    method: "POST",
    headers: { ...headers, "Content-Type": "application/octet-stream" },
    body: tgz,
  });
}

// A request whose headers declare a body it never sends: the answer must come from the headers.
function headersOnly(url, headers) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => {
        req.destroy();
        resolve({ status: res.statusCode, body });
      });
    });
    req.on("error", reject);
    req.flushHeaders();
  });
}

async function index(repo = "org1/repo1") {
  const res = await fetch(`${base}/${repo}/index.yaml`, { headers: auth() });
  assert.equal(res.status, 200);
  return JSON.parse(await res.text());
}

test("curl's forms: raw body and multipart with a provenance file; GET the API; 409 for a duplicate", async () => {
  const chart = makeChartRepo("hello", "0.1.0");
  const raw = await upload(chart.tgz);
  assert.equal(raw.status, 201, await raw.text());
  assert.deepEqual(await (await upload(chart.tgz)).json(), { error: "file already exists" });
  const other = makeChartRepo("hello", "0.2.0");
  const form = new FormData();
  form.append("chart", new Blob([other.tgz]), other.file);
  form.append("prov", new Blob([provOf("hello", "0.2.0", other.tgz)]), `${other.file}.prov`);
  const multipart = await fetch(`${base}/api/org1/repo1/charts`, { method: "POST", headers: auth(), body: form });
  assert.equal(multipart.status, 201, await multipart.text());
  const all = await (await fetch(`${base}/api/org1/repo1/charts`, { headers: auth() })).json();
  assert.deepEqual(all.hello.map((v) => v.version).sort(), ["0.1.0", "0.2.0"]);
  const one = await (await fetch(`${base}/api/org1/repo1/charts/hello/0.1.0`, { headers: auth() })).json();
  assert.equal(one.digest, execFileSync("sha256sum", { input: chart.tgz }).toString().split(" ")[0]);
  assert.deepEqual(one.urls, ["charts/hello-0.1.0.tgz"]);
  assert.equal((await fetch(`${base}/api/org1/repo1/charts/nothing`, { headers: auth() })).status, 404);
  const prov = await fetch(`${base}/org1/repo1/charts/hello-0.2.0.tgz.prov`, { headers: auth() });
  assert.match(await prov.text(), /version: 0\.2\.0/);
  const pullOnly = await upload(chart.tgz, { headers: auth("artifact-repository:org1/repo1:pull") });
  assert.equal(pullOnly.status, 403);
});

/** Runs curl without blocking this process; `{status, body}` (the HTTP status curl saw). */
function curl(args) {
  return new Promise((resolve, reject) => {
    const child = spawn("curl", ["-sS", "-w", "\n%{http_code}", ...args], { timeout: 60_000 });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`curl ${args.join(" ")}: ${err}`));
      const at = out.lastIndexOf("\n");
      resolve({ status: Number(out.slice(at + 1)), body: out.slice(0, at) });
    });
  });
}

test("ChartMuseum's API as its README drives it with curl: raw, prov, form, list, get, delete; signed charts verify", async () => {
  const signer = signingKey();
  const sign = ["--sign", "--key", signer.name, "--keyring", signer.secring];
  const first = makeChartRepo("mychart", "0.1.0", sign);
  const second = makeChartRepo("mychart", "0.2.0", sign);
  const api = `${base}/api/org2/docs`;
  const token = ["-H", `Authorization: Bearer ${mint(key, "artifact-repository:org2/docs:pull,push")}`];
  const at = (chart, suffix = "") => `@${join(chart.dir, chart.file)}${suffix}`;
  const saved = JSON.stringify({ saved: true });
  assert.deepEqual(await curl([...token, "--data-binary", at(first), `${api}/charts`]), { status: 201, body: saved });
  assert.deepEqual(await curl([...token, "--data-binary", at(first, ".prov"), `${api}/prov`]), { status: 201, body: saved });
  const form = [...token, "-F", `chart=${at(second)}`, "-F", `prov=${at(second, ".prov")}`, `${api}/charts`];
  assert.deepEqual(await curl(form), { status: 201, body: saved });
  const again = await curl([...token, "--data-binary", at(first), `${api}/charts`]);
  assert.deepEqual(again, { status: 409, body: JSON.stringify({ error: "file already exists" }) });
  const all = JSON.parse((await curl([...token, `${api}/charts`])).body);
  assert.deepEqual(all.mychart.map((v) => v.version).sort(), ["0.1.0", "0.2.0"]);
  const versions = JSON.parse((await curl([...token, `${api}/charts/mychart`])).body);
  assert.equal(versions.length, 2);
  const one = JSON.parse((await curl([...token, `${api}/charts/mychart/0.2.0`])).body);
  assert.equal(one.digest, createHash("sha256").update(second.tgz).digest("hex"));
  // helm verifies both versions over HTTP: each .prov reached its chart.
  const env = helmEnv();
  const reader = mint(key, "artifact-repository:org2/docs:pull");
  helm(["repo", "add", "docs", `${base}/org2/docs`, "--username", "token", "--password-stdin"], { env, input: reader });
  for (const version of ["0.1.0", "0.2.0"]) {
    const dest = tmp("verify");
    helm(["pull", "docs/mychart", "--version", version, "--verify", "--keyring", signer.pubring, "--destination", dest], { env });
  }
  const deleted = await curl([...token, "-X", "DELETE", `${api}/charts/mychart/0.1.0`]);
  assert.deepEqual(deleted, { status: 200, body: JSON.stringify({ deleted: true }) });
  assert.equal((await curl([...token, `${api}/charts/mychart/0.1.0`])).status, 404);
  for (const gone of [first.file, `${first.file}.prov`]) {
    assert.equal((await curl([...token, `${base}/org2/docs/charts/${gone}`])).status, 404, gone);
  }
});

test("?force with ALLOW_OVERWRITE replaces a pre-release over both protocols, never a released version", async () => {
  const w2 = await startWorker({ JWKS: key.jwks, ALLOW_OVERWRITE: "true" }, { port: 0 });
  started.push(w2);
  const post = (tgz, query = "") =>
    fetch(`${w2.url}/api/org1/over/charts${query}`, { method: "POST", headers: auth("artifact-repository:org1/over:pull,push"), body: tgz });
  const read = async (path) => {
    const res = await fetch(`${w2.url}/${path}`, { headers: auth("artifact-repository:org1/over:pull,push") });
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
  };
  const blobOf = async (chart, version) => {
    const manifest = JSON.parse((await read(`v2/org1/over/${chart}/manifests/${version}`)).body);
    return (await read(`v2/org1/over/${chart}/blobs/${manifest.layers[0].digest}`)).body;
  };
  // Two different archives of each version (a different description).
  const twice = (version) => [makeChartRepo("over", version), makeChartRepo("over", version, ["--app-version", "2.0.0"])];
  const [dev1, dev2] = twice("1.1.0-dev");
  const signed = new FormData();
  signed.append("chart", new Blob([dev1.tgz]), dev1.file);
  signed.append("prov", new Blob([provOf("over", "1.1.0-dev", dev1.tgz)]), `${dev1.file}.prov`);
  assert.equal((await post(signed)).status, 201);
  assert.equal((await read(`org1/over/charts/${dev1.file}.prov`)).status, 200);
  assert.deepEqual((await read(`org1/over/charts/${dev1.file}`)).body, dev1.tgz, "read once: now in the edge cache");
  assert.equal((await post(dev2.tgz)).status, 409, "no ?force: never replaced");
  assert.equal((await post(dev2.tgz, "?force")).status, 201);
  assert.deepEqual((await read(`org1/over/charts/${dev1.file}`)).body, dev2.tgz, "HTTP serves the new archive");
  assert.deepEqual(await blobOf("over", "1.1.0-dev"), dev2.tgz, "and so does OCI");
  assert.equal((await read(`org1/over/charts/${dev1.file}.prov`)).status, 404, "the old archive's signature went with it");
  const [rel1, rel2] = twice("1.0.0");
  assert.equal((await post(rel1.tgz)).status, 201);
  const refused = await post(rel2.tgz, "?force");
  assert.equal(refused.status, 409);
  assert.match((await refused.json()).error, /over 1\.0\.0 is a released version and immutable \(IMMUTABLE_TAGS\)/);
  assert.deepEqual((await read(`org1/over/charts/${rel1.file}`)).body, rel1.tgz, "unchanged over HTTP");
  assert.deepEqual(await blobOf("over", "1.0.0"), rel1.tgz, "unchanged over OCI");
  assert.equal((await post(rel1.tgz, "?force")).status, 201, "the same archive again");
});

test("ten concurrent uploads of one chart's versions: all ten listed", async () => {
  const charts = Array.from({ length: 10 }, (_, i) => makeChartRepo("many", `1.0.${i}`));
  const results = await Promise.all(charts.map((c) => upload(c.tgz)));
  for (const r of results) assert.equal(r.status, 201, await r.text());
  const versions = (await index()).entries.many.map((e) => e.version).sort();
  assert.deepEqual(versions, charts.map((c) => c.file.match(/many-(.*)\.tgz/)[1]).sort());
});

test("helm repo add / update / search --versions / pull see a chart right after its upload", async () => {
  const env = helmEnv();
  const token = mint(key, PUSH);
  helm(["repo", "add", "edge", `${base}/org1/repo1`, "--username", "token", "--password-stdin"], { env, input: token });
  const chart = makeChartRepo("fresh", "3.1.4");
  assert.equal((await upload(chart.tgz)).status, 201);
  helm(["repo", "update"], { env });
  assert.match(helm(["search", "repo", "edge/fresh", "--versions"], { env }), /edge\/fresh\s+3\.1\.4/);
  const dest = tmp("published");
  helm(["pull", "edge/fresh", "--version", "3.1.4", "--destination", dest], { env });
  assert.deepEqual(readFileSync(join(dest, chart.file)), chart.tgz);
});

test("a delete unlists the version and leaves nothing downloadable, even once cached", async () => {
  const chart = makeChartRepo("gone", "0.0.1");
  assert.equal((await upload(chart.tgz)).status, 201);
  const url = `${base}/org1/repo1/charts/${chart.file}`;
  assert.equal((await fetch(url, { headers: auth() })).status, 200);
  assert.equal((await fetch(url, { headers: auth() })).headers.get("x-chartgate-cache"), "HIT");
  await index(); // cached too
  const del = await fetch(`${base}/api/org1/repo1/charts/gone/0.0.1`, { method: "DELETE", headers: auth() });
  assert.deepEqual(await del.json(), { deleted: true });
  assert.equal((await fetch(url, { headers: auth() })).status, 404);
  assert.equal((await index()).entries.gone, undefined);
  const again = await fetch(`${base}/api/org1/repo1/charts/gone/0.0.1`, { method: "DELETE", headers: auth() });
  assert.equal(again.status, 404);
});

// A tar header (ustar) for a regular file, with the name as given (`..` included: tar(1) would
// strip it).
function tarHeader(name, size) {
  const header = Buffer.alloc(512);
  header.write(name, 0);
  header.write("0000644\0", 100);
  header.write("0000000\0", 108);
  header.write("0000000\0", 116);
  header.write(size.toString(8).padStart(11, "0") + "\0", 124);
  header.write("00000000000\0", 136);
  header.write("        ", 148);
  header.write("0", 156);
  header.write("ustar\x0000", 257);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return header;
}

// A gzipped tar of `[name, text]` entries, written entry by entry.
function tarWith(entries) {
  const blocks = entries.flatMap(([name, text]) => {
    const body = Buffer.alloc(Math.ceil(Buffer.byteLength(text) / 512) * 512);
    body.write(text);
    return [tarHeader(name, Buffer.byteLength(text)), body];
  });
  return gzipSync(Buffer.concat([...blocks, Buffer.alloc(1024)]));
}

// A chart followed by a 110 MiB file of zeros: some 110 KiB gzipped, more than helm would inflate.
function bomb() {
  const yaml = Buffer.alloc(512);
  yaml.write("name: x\nversion: 1.0.0\n");
  const size = 110 * 1024 * 1024;
  const tar = Buffer.concat([tarHeader("x/Chart.yaml", 23), yaml, tarHeader("x/big", size), Buffer.alloc(size + 1024)]);
  return gzipSync(tar, { level: 9 });
}

test("hostile uploads: each refused with a clear error, nothing stored, the index unchanged", async () => {
  const before = (await bucket.list()).objects.map((o) => o.key).sort();
  const indexBefore = JSON.stringify((await index()).entries);
  const dir = tmp("hostile");
  const tgzOf = (files) => {
    mkdirSync(join(dir, "x"), { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, "x", name), text);
    return execFileSync("tar", ["-czf", "-", "-C", dir, "x"]);
  };
  const cases = [
    // The entry gate answers first, with its codes (docs/security.md, "What the entry gate refuses").
    ["not gzip", Buffer.from("plain text"), 400, /archive_invalid: not gzip/],
    ["no Chart.yaml", tgzOf({ "values.yaml": "a: 1\n" }), 400, /chart_yaml_missing/],
    ["alias bomb", tgzOf({ "Chart.yaml": "a: &a [x, x]\nb: &b [*a, *a]\nname: x\nversion: 1.0.0\n" }), 400, /aliases/],
    ["name that cannot be a file", tgzOf({ "Chart.yaml": "name: ../../x\nversion: 1.0.0\n" }), 400, /name/],
    ["an entry leaving the archive", tarWith([["x/Chart.yaml", "name: x\nversion: 1.0.0\n"], ["x/../../etc/x", "y"]]), 400, /parent_path|outside_chart_dir|unclean_path/],
    ["Chart.yaml over 1 MiB", tgzOf({ "Chart.yaml": `name: x\nversion: 1.0.0\ndescription: ${"a".repeat(1024 * 1024)}\n` }), 413, /Chart.yaml is larger than 1048576 bytes/],
    ["gzip bomb", bomb(), 400, /archive_too_large|inflation_ratio|file_too_large/],
  ];
  for (const [name, body, status, message] of cases) {
    const res = await upload(body);
    assert.equal(res.status, status, name);
    assert.match((await res.json()).error, message, name);
  }
  // Declared too large: refused from the headers, before a byte of the body is read (what curl
  // sees when it sends `Expect: 100-continue`).
  // ChartMuseum's form: a file name that names another chart, a provenance file of another chart.
  const named = makeChartRepo("named", "1.0.0");
  const renamed = new FormData();
  renamed.append("chart", new Blob([named.tgz]), "named-2.0.0.tgz");
  const refusedName = await fetch(`${base}/api/org1/repo1/charts`, { method: "POST", headers: auth(), body: renamed });
  assert.equal(refusedName.status, 400);
  assert.match((await refusedName.json()).error, /named-2\.0\.0\.tgz holds chart named version 1\.0\.0/);
  const mismatched = new FormData();
  mismatched.append("chart", new Blob([named.tgz]), named.file);
  mismatched.append("prov", new Blob(["-----BEGIN PGP SIGNED MESSAGE-----\nname: other\nversion: 1.0.0\n"]), "other-1.0.0.tgz.prov");
  const refusedProv = await fetch(`${base}/api/org1/repo1/charts`, { method: "POST", headers: auth(), body: mismatched });
  assert.equal(refusedProv.status, 400);
  assert.match((await refusedProv.json()).error, /provenance file is for other 1\.0\.0, the archive is named 1\.0\.0/);
  const notSigned = await fetch(`${base}/api/org1/repo1/prov`, { method: "POST", headers: auth(), body: "name: x\nversion: 1.0.0\n" });
  assert.equal(notSigned.status, 400);
  assert.match((await notSigned.json()).error, /not a PGP signed message/);
  const empty = new FormData();
  empty.append("other", "x");
  const refusedEmpty = await fetch(`${base}/api/org1/repo1/charts`, { method: "POST", headers: auth(), body: empty });
  assert.equal(refusedEmpty.status, 400);
  assert.match((await refusedEmpty.json()).error, /no package or provenance file found in form fields chart and prov/);
  const declared = await headersOnly(`${base}/api/org1/repo1/charts`, {
    ...auth(),
    "Content-Type": "application/octet-stream",
    "Content-Length": String(21 * 1024 * 1024),
  });
  assert.equal(declared.status, 413);
  assert.match(JSON.parse(declared.body).error, /larger than 20971520 bytes/);
  // Undeclared (chunked) and too large: refused once the stream passes the limit, the rest drained.
  const chunk = Buffer.alloc(1024 * 1024);
  let sent = 0;
  const stream = new ReadableStream({
    pull(controller) {
      if (sent++ < 21) controller.enqueue(chunk);
      else controller.close();
    },
  });
  const big = await fetch(`${base}/api/org1/repo1/charts`, {
    method: "POST",
    headers: { ...auth(), "Content-Type": "application/octet-stream" },
    body: stream,
    duplex: "half",
  });
  assert.equal(big.status, 413);
  assert.match((await big.json()).error, /larger than 20971520 bytes/);
  assert.deepEqual((await bucket.list()).objects.map((o) => o.key).sort(), before, "nothing stored");
  assert.equal(JSON.stringify((await index()).entries), indexBefore, "index unchanged");
});
