// `chartgate mirror` from a local static chart repository (index.yaml + archives, Basic auth) into
// the edge, then helm installs (templates) from the edge; a second run uploads nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CHARTGATE, disposeAfter, helm, helmEnv, keygen, localServer, makeChartRepo, mint, signingKey, startWorker, tmp } from "./harness.mjs";

const started = disposeAfter(after);
let key, w, source, repo;

before(async () => {
  key = keygen();
  w = await startWorker({ JWKS: key.jwks }, { port: 0 });
  started.push(w);
  // One static repository with three versions of two charts, behind Basic auth.
  repo = makeChartRepo("alpha", "1.0.0");
  for (const [name, version] of [["alpha", "1.1.0"], ["beta", "0.1.0"]]) {
    const other = makeChartRepo(name, version);
    copyFileSync(join(other.dir, other.file), join(repo.dir, other.file));
  }
  helm(["repo", "index", repo.dir]);
  source = await localServer((req, res) => {
    if (req.headers.authorization !== "Basic " + Buffer.from("reader:s3cret").toString("base64")) {
      res.writeHead(401).end();
      return;
    }
    try {
      const body = readFileSync(join(repo.dir, req.url.split("?")[0].replace(/^\/stable\//, "")));
      res.writeHead(200).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  started.push(source);
});

/** Runs the mirror without blocking this process (the source server runs here). */
function mirror() {
  const token = mint(key, "artifact-repository:org1/mirrored:pull,push");
  const args = ["mirror", `${source.url}/stable`, `${w.url}/org1/mirrored`, "--token", "-"];
  args.push("--source-username", "reader", "--source-password", "s3cret");
  return new Promise((resolve) => {
    const child = spawn(CHARTGATE, args, { timeout: 120_000 });
    const out = { stdout: "", stderr: "" };
    child.stdout.on("data", (d) => (out.stdout += d));
    child.stderr.on("data", (d) => (out.stderr += d));
    child.on("close", (status) => resolve({ ...out, status }));
    child.stdin.end(token);
  });
}

test("mirror copies every version through the upload API; helm installs from the edge; a second run skips all", async () => {
  const first = await mirror();
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /3 uploaded, 0 already there, 0 failed/);
  assert.match(first.stderr, /\[1\/3\] alpha 1\.0\.0: uploaded/);
  const env = helmEnv();
  const token = mint(key, "artifact-repository:org1/mirrored:pull");
  helm(["repo", "add", "mirrored", `${w.url}/org1/mirrored`, "--username", "token", "--password-stdin"], { env, input: token });
  assert.match(helm(["search", "repo", "mirrored/", "--versions"], { env }), /mirrored\/alpha\s+1\.1\.0[\s\S]*mirrored\/alpha\s+1\.0\.0/);
  assert.match(helm(["template", "demo", "mirrored/beta", "--version", "0.1.0"], { env }), /name: demo-beta/);
  const second = await mirror();
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, /0 uploaded, 3 already there, 0 failed/);
});

test("on a terminal mirror draws a progress bar instead of a line per version", async () => {
  const token = mint(key, "artifact-repository:org1/terminal:pull,push");
  const quote = (s) => `'${s.replaceAll("'", "'\\''")}'`;
  const command = [CHARTGATE, "mirror", `${source.url}/stable`, `${w.url}/org1/terminal`, "--token", token]
    .concat(["--source-username", "reader", "--source-password", "s3cret"])
    .map(quote)
    .join(" ");
  // script(1) runs the command on a pseudo-terminal and copies what it draws.
  const out = await new Promise((resolve) => {
    const child = spawn("script", ["-qec", command, "/dev/null"], { timeout: 120_000, env: { ...process.env, TERM: "xterm" } });
    let text = "";
    child.stdout.on("data", (d) => (text += d));
    child.on("close", (status) => resolve({ text, status }));
    child.stdin.end();
  });
  assert.equal(out.status, 0, out.text);
  assert.match(out.text, /[█░]+\s+\d\/3 (alpha|beta)/, "a bar with the position and the chart at hand");
  assert.doesNotMatch(out.text, /: uploaded/, "no line per version on a terminal");
  assert.match(out.text, /3 uploaded, 0 already there, 0 failed/);
});

/** POSTs `body` (bytes or a FormData) to the edge's upload API `path` with a push token for `repo`. */
async function upload(repo, path, body) {
  const token = mint(key, `artifact-repository:${repo}:pull,push`);
  return fetch(`${w.url}/api/${repo}/${path}`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body });
}

/** A static repository served from `dir` (no auth), counted. */
async function staticRepo(dir) {
  const s = await localServer((req, res) => {
    let body;
    try {
      body = readFileSync(join(dir, req.url.split("?")[0].replace(/^\/repo\//, "")));
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200).end(body);
  });
  started.push(s);
  return s;
}

function runMirror(from, to) {
  const token = mint(key, `artifact-repository:${to}:pull,push`);
  return new Promise((resolve) => {
    const child = spawn(CHARTGATE, ["mirror", `${from}/repo`, `${w.url}/${to}`, "--token", "-"], { timeout: 120_000 });
    const out = { stdout: "", stderr: "" };
    child.stdout.on("data", (d) => (out.stdout += d));
    child.stderr.on("data", (d) => (out.stderr += d));
    child.on("close", (status) => resolve({ ...out, status }));
    child.stdin.end(token);
  });
}

// Security round 4, G4: `chartgate mirror` posted the source's `.prov` raw to `/api/<repo>/prov`, and
// the edge filed it under whatever chart the file named, for good. A provenance file now travels with
// its archive and is bound to that archive's digest; a raw one must sign the stored archive.
test("finding G4: a hostile mirror source cannot attach its provenance file to another release", async () => {
  const repoName = "org1/g4";
  // The owner's unsigned release, and the owner's own signature of it (kept for later).
  const signer = signingKey();
  const victim = makeChartRepo("victim", "1.0.0", ["--sign", "--key", signer.name, "--keyring", signer.secring]);
  const ownProv = readFileSync(join(victim.dir, `${victim.file}.prov`));
  assert.equal((await upload(repoName, "charts", victim.tgz)).status, 201);
  // The hostile source: another build of victim 1.0.0, signed by the attacker, listed as `evil`'s
  // provenance file beside a harmless chart, and as victim's own beside the owner's archive.
  const attacker = signingKey("attacker");
  const forged = makeChartRepo("victim", "1.0.0", ["--sign", "--key", attacker.name, "--keyring", attacker.secring, "--app-version", "9"]);
  const hostileProv = readFileSync(join(forged.dir, `${forged.file}.prov`));
  const evil = makeChartRepo("evil", "1.0.0");
  copyFileSync(join(evil.dir, evil.file), join(forged.dir, evil.file));
  writeFileSync(join(forged.dir, `${evil.file}.prov`), hostileProv);
  writeFileSync(join(forged.dir, victim.file), victim.tgz); // the owner's bytes, so the digest matches
  writeFileSync(join(forged.dir, `${victim.file}.prov`), hostileProv);
  helm(["repo", "index", forged.dir]);
  const hostile = await staticRepo(forged.dir);
  const run = await runMirror(hostile.url, repoName);
  assert.match(run.stderr, /evil 1\.0\.0: failed: .*provenance file is for victim 1\.0\.0/);
  assert.match(run.stderr, /victim 1\.0\.0: failed: .*not the archive's/);
  const pull = mint(key, `artifact-repository:${repoName}:pull`);
  const prov = await fetch(`${w.url}/${repoName}/charts/${victim.file}.prov`, { headers: { authorization: `Bearer ${pull}` } });
  assert.equal(prov.status, 404, "no provenance file attached to the owner's release");
  // A raw /prov whose signed digest is not the stored archive's is refused, naming both.
  const raw = await upload(repoName, "prov", hostileProv);
  assert.equal(raw.status, 400);
  assert.match((await raw.json()).error, /not the archive's: victim 1\.0\.0 is sha256:[0-9a-f]{64}, it signs sha256:/);
  // The owner's own signature still attaches, and helm verifies it through the edge.
  assert.equal((await upload(repoName, "prov", ownProv)).status, 201);
  const env = helmEnv();
  const dest = tmp("g4");
  helm(["repo", "add", "g4", `${w.url}/${repoName}`, "--username", "token", "--password-stdin"], { env, input: pull });
  helm(["pull", "g4/victim", "--version", "1.0.0", "--verify", "--keyring", signer.pubring, "--destination", dest], { env });
  assert.deepEqual(readFileSync(join(dest, victim.file)), victim.tgz);
});

// Security round 4, case 8: every mirrored version's `created` became the time of the move, which
// breaks release-age rules (Renovate's minimumReleaseAge) and the dates users read.
test("case 8: mirror keeps each version's created from the source", async () => {
  const src = makeChartRepo("dated", "1.0.0");
  const index = readFileSync(join(src.dir, "index.yaml"), "utf8").replace(/created: .*/g, "created: \"2021-03-04T05:06:07.123456789Z\"");
  writeFileSync(join(src.dir, "index.yaml"), index);
  const s = await staticRepo(src.dir);
  const run = await runMirror(s.url, "org1/dated");
  assert.equal(run.status, 0, run.stderr);
  const pull = mint(key, "artifact-repository:org1/dated:pull");
  const listed = await (await fetch(`${w.url}/org1/dated/index.yaml`, { headers: { authorization: `Bearer ${pull}` } })).text();
  assert.equal(JSON.parse(listed).entries.dated[0].created, "2021-03-04T05:06:07.123456789Z");
  const api = await (await fetch(`${w.url}/api/org1/dated/charts/dated/1.0.0`, { headers: { authorization: `Bearer ${pull}` } })).json();
  assert.equal(api.created, "2021-03-04T05:06:07.123456789Z");
  // A release may keep an older date, never take a future one.
  const form = new FormData();
  const next = makeChartRepo("dated", "1.0.1");
  form.append("chart", new Blob([next.tgz]), next.file);
  form.append("created", "2999-01-01T00:00:00Z");
  const future = await upload("org1/dated", "charts", form);
  assert.equal(future.status, 400);
  assert.match((await future.json()).error, /created "2999-01-01T00:00:00Z": is in the future/);
});
