// `chartgate mirror` from a local static chart repository (index.yaml + archives, Basic auth) into
// the edge, then helm installs (templates) from the edge; a second run uploads nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CHARTGATE, disposeAfter, helm, helmEnv, keygen, localServer, makeChartRepo, mint, startWorker } from "./harness.mjs";

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
