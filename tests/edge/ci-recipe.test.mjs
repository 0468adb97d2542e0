// docs/ci.md, end to end: the GitHub Actions recipe's scripts run as written against `wrangler dev`
// with the doc's policy, no issuer and no secret anywhere. The only changes to the scripts: the
// host (a local wrangler dev instead of charts.example.com) and --plain-http on loopback. GitHub's
// token service is the local stand-in of oidc.mjs (the platform cannot run here).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

import { HELM, ROOT, freePort, helm, helmEnv, tmp } from "./harness.mjs";
import { github, startProvider } from "./oidc.mjs";

let gh, wrangler, host, dir;
const logs = [];

/** The code block after `<!-- ci.md: NAME -->` in docs/ci.md. */
function block(name) {
  const text = readFileSync(join(ROOT, "docs/ci.md"), "utf8");
  const m = text.match(new RegExp(`<!-- ci\\.md: ${name} -->\\n\`\`\`\\w+\\n([\\s\\S]*?)\\n\`\`\``));
  assert.ok(m, `docs/ci.md has no block ${name}`);
  return m[1];
}

before(async () => {
  gh = await startProvider({ alg: "RS256" });
  dir = tmp("ci-recipe");
  // The doc's policy, trusting the local stand-in instead of token.actions.githubusercontent.com.
  const policy = block("github-policy").replace("https://token.actions.githubusercontent.com", gh.issuer);
  JSON.parse(policy);
  // A wrangler.toml of its own (no [build]: scripts/test has built build/), so no .dev.vars applies.
  const toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8")
    .replace(/^main = .*$/m, `main = "${join(ROOT, "build/index.js")}"`)
    .replace(/^\[build\]\ncommand = .*\n/m, "")
    .replace(/^directory = "www\/dist"$/m, `directory = "${join(ROOT, "www/dist")}"`)
    .replace(/^REALM = .*$/m, `REALM = "/token"\nTRUST_POLICIES = '''\n${policy}\n'''`);
  assert.ok(!/^JWKS/m.test(toml), "no JWKS: the edge trusts the policy only");
  writeFileSync(join(dir, "wrangler.toml"), toml);
  assert.ok(!existsSync(join(dir, ".dev.vars")));
  const port = await freePort();
  host = `127.0.0.1:${port}`;
  wrangler = spawn(join(ROOT, "node_modules/.bin/wrangler"), ["dev", "--config", join(dir, "wrangler.toml"), "--port", String(port), "--ip", "127.0.0.1", "--persist-to", join(dir, "state")], {
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  wrangler.stdout.on("data", (d) => logs.push(String(d)));
  wrangler.stderr.on("data", (d) => logs.push(String(d)));
  for (let i = 0; i < 240; i++) {
    try {
      if ((await fetch(`http://${host}/health`)).status === 200) return;
    } catch {}
    if (wrangler.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`wrangler dev did not start:\n${logs.join("")}`);
});

after(async () => {
  wrangler?.kill("SIGTERM");
  await gh?.close();
});

/** The doc's script for this host: plain HTTP on loopback, same commands. */
const adapt = (script) =>
  script
    .replaceAll("https://charts.example.com/acme", `http://${host}/acme`)
    .replaceAll("oci://charts.example.com", `oci://${host}`)
    .replaceAll("registry login charts.example.com", `registry login ${host} --plain-http`)
    .replace(/^(helm (push|pull) .*oci:\/\/.*)$/gm, "$1 --plain-http");

/** Runs a job: `script` in `cwd` as GitHub runs it, for a job of `job` (claims). */
function runJob(script, job, { cwd, refName }) {
  gh.job = job;
  const env = {
    ...helmEnv(),
    PATH: `${dirname(HELM)}:${process.env.PATH}`,
    ACTIONS_ID_TOKEN_REQUEST_URL: gh.requestUrl,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: gh.requestToken,
    GITHUB_REF_NAME: refName,
  };
  return new Promise((resolve) => {
    const child = spawn("bash", ["-euo", "pipefail", "-c", adapt(script)], { cwd, env, timeout: 120_000 });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => resolve({ ok: code === 0, out }));
  });
}

function checkout() {
  const repo = tmp("checkout");
  helm(["create", "app"], { cwd: repo });
  renameSync(join(repo, "app"), join(repo, "chart"));
  return repo;
}

test("docs/ci.md: a release tag pushes over OCI, the organisation pulls over both protocols, a fork is refused", async () => {
  const release = await runJob(block("github-push"), { repository: "acme/app", ref: "refs/tags/v1.0.0", workflow: "release.yml" }, { cwd: checkout(), refName: "v1.0.0" });
  assert.ok(release.ok, release.out);
  assert.match(release.out, /Pushed: .*acme\/charts\/app:1\.0\.0/);

  const pulled = tmp("pull-job");
  const pull = await runJob(block("github-pull"), { repository: "acme/deploy", ref: "refs/heads/main", workflow: "deploy.yml" }, { cwd: pulled, refName: "main" });
  assert.ok(pull.ok, pull.out);
  assert.ok(existsSync(join(pulled, "app-1.0.0.tgz")));

  const fork = await runJob(block("github-push"), { repository: "evil/app", ref: "refs/tags/v6.6.6", workflow: "release.yml" }, { cwd: checkout(), refName: "v6.6.6" });
  assert.ok(!fork.ok, fork.out);
  assert.match(fork.out, /401|unauthorized/i);
  const probe = gh.mint(github({ aud: "https://charts.example.com", repository: "acme/deploy", ref: "refs/heads/main" }));
  const tags = await (await fetch(`http://${host}/v2/acme/charts/app/tags/list`, { headers: { Authorization: `Bearer ${probe}` } })).json();
  assert.deepEqual(tags.tags, ["1.0.0"], "the fork pushed nothing");

  const target = await runJob(block("github-pull"), { repository: "acme/app", ref: "refs/heads/main", event_name: "pull_request_target" }, { cwd: tmp("prt"), refName: "main" });
  assert.ok(!target.ok, "pull_request_target runs get nothing");
});
