// Trust policies at the edge with no issuer and no secret: GitHub Actions, GitLab CI and
// Kubernetes tokens from a local OpenID provider (oidc.mjs) accepted at every door helm uses
// (Bearer, Basic password with any username, `?token=`, the Docker token flow to the edge's own
// `/token`), with real helm 4 and helm 3, curl for the upload API, and the hostile cases of the
// trust-policy issue, each refused with its reason and nothing granted.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createPublicKey } from "node:crypto";

import {
  HELM,
  HELM3,
  auditLines,
  basic,
  disposeAfter,
  helmEnv,
  helmFails,
  helmOk,
  makeChartRepo,
  plainHttpFront,
  runAsync,
  startWorker,
  tmp,
} from "./harness.mjs";
import { github, gitlab, keyPair, kubernetes, recipePolicy, signHs256, signJwt, startProvider, unsigned } from "./oidc.mjs";

const AUD = "https://charts.example.com";
const started = disposeAfter(after);
let gh, gl, k8s, worker, front;

/** The GitHub policy of docs/ci.md, for a provider at `issuer`. */
export function githubPolicy(issuer) {
  return recipePolicy("github", { issuer });
}

function policies() {
  return [
    githubPolicy(gh.issuer),
    {
      name: "gitlab",
      issuer: gl.issuer,
      audience: AUD,
      jwks_url: `${gl.issuer}/jwks`,
      rules: [
        { name: "release", match: { project_path: "grp/app", ref_type: "tag", ref_protected: "true" }, scopes: ["artifact-repository:grp/charts:pull,push"] },
        { name: "project", match: { namespace_path: "grp" }, scopes: ["artifact-repository:{project_path}:pull,push"] },
      ],
    },
    {
      name: "cluster",
      issuer: k8s.issuer,
      audience: AUD,
      keys: JSON.stringify({ keys: [k8s.key.jwk] }),
      rules: [
        {
          match: { "kubernetes.io/namespace": "ci", "kubernetes.io/serviceaccount/name": "deployer" },
          scopes: ["artifact-repository:acme/*:pull"],
        },
      ],
    },
  ];
}

before(async () => {
  gh = await startProvider({ alg: "RS256" });
  gl = await startProvider({ alg: "RS256" });
  k8s = await startProvider({ alg: "ES256" });
  started.push(gh, gl, k8s);
  worker = await startWorker(
    { TRUST_POLICIES: JSON.stringify(policies()), REALM: "/token", SERVICE: "chartgate", JWKS_REFETCH_INTERVAL: "0" },
    { port: 0 },
  );
  started.push(worker);
  front = await plainHttpFront(worker.url);
  started.push(front);
});

const HELMS = [
  { name: "helm 4", bin: HELM, login: ["--plain-http"] },
  { name: "helm 3", bin: HELM3, login: ["--insecure"] },
];

const ok = helmOk;
const fails = helmFails;
const run = (bin, args, opts) => runAsync(bin, args, opts);

const get = (path, headers = {}) => fetch(`${worker.url}${path}`, { headers });
const bearer = (t) => ({ Authorization: `Bearer ${t}` });

async function refusal(response) {
  const body = await response.json();
  return { status: response.status, reason: body.reason ?? body.errors?.[0]?.detail?.reason, body };
}

for (const h of HELMS) {
  test(`${h.name}: the GitHub Actions recipe: a release tag pushes over OCI with no secret, the organisation pulls over both protocols, a fork is refused`, async () => {
    const chart = makeChartRepo(h.name === "helm 4" ? "web" : "api", "1.0.0");
    const name = h.name === "helm 4" ? "web" : "api";
    // The release job: `helm registry login --username oidc --password "$TOKEN"`, then `helm push`.
    const release = gh.mint(github({ aud: AUD }));
    const env = helmEnv();
    await ok(h, ["registry", "login", front.host, ...h.login, "--username", "oidc", "--password-stdin"], { env, input: release });
    const pushed = await ok(h, ["push", join(chart.dir, chart.file), `oci://${front.host}/acme/charts`, "--plain-http"], { env });
    assert.match(pushed, /Digest: sha256:/);
    // Another repository's branch job of the organisation pulls, over OCI and over HTTP.
    const pull = gh.mint(github({ aud: AUD, repository: "acme/deploy", ref: "refs/heads/main", workflow: "deploy.yml" }));
    const penv = helmEnv();
    await ok(h, ["registry", "login", front.host, ...h.login, "--username", "oidc", "--password-stdin"], { env: penv, input: pull });
    const dest = tmp("trust-pull");
    await ok(h, ["pull", `oci://${front.host}/acme/charts/${name}`, "--version", "1.0.0", "--plain-http", "--destination", dest], { env: penv });
    assert.deepEqual(readFileSync(join(dest, chart.file)), chart.tgz);
    await ok(h, ["repo", "add", "acme", `http://${front.host}/acme/charts`, "--username", "oidc", "--password-stdin"], { env: penv, input: pull });
    assert.match(await ok(h, ["search", "repo", `acme/${name}`], { env: penv }), new RegExp(`acme/${name}\\s+1\\.0\\.0`));
    const dest2 = tmp("trust-pull-http");
    await ok(h, ["pull", `acme/${name}`, "--version", "1.0.0", "--destination", dest2], { env: penv });
    assert.deepEqual(readFileSync(join(dest2, chart.file)), chart.tgz);
    // The pulling job may not push (a new version: helm 3 skips a push whose manifest is there).
    const next = makeChartRepo(name, "1.0.1");
    await fails(h, ["push", join(next.dir, next.file), `oci://${front.host}/acme/charts`, "--plain-http"], { env: penv });
    assert.equal((await get(`/v2/acme/charts/${name}/manifests/1.0.1`, bearer(release))).status, 404, "nothing was pushed");
    // A fork's release workflow: no rule matches, nothing is granted anywhere.
    const fork = gh.mint(github({ aud: AUD, repository: "evil/app" }));
    const fenv = helmEnv();
    const out = await fails(h, ["registry", "login", front.host, ...h.login, "--username", "oidc", "--password-stdin"], { env: fenv, input: fork });
    assert.match(out, /401|unauthorized/i);
    await fails(h, ["repo", "add", "acme", `http://${front.host}/acme/charts`, "--username", "oidc", "--password-stdin"], { env: fenv, input: fork });
    const r = await refusal(await get(`/acme/charts/index.yaml`, bearer(fork)));
    assert.equal(r.reason, "no_trust_rule");
    assert.match(r.body.error_description, /trust policy "github"/);
  });
}

test("pull_request_target runs get nothing; a pull-request run of the release repository cannot push", async () => {
  const target = gh.mint(github({ aud: AUD, event_name: "pull_request_target", ref: "refs/heads/main" }));
  assert.equal((await refusal(await get(`/acme/charts/index.yaml`, bearer(target)))).reason, "no_trust_rule");
  const pr = gh.mint(github({ aud: AUD, event_name: "pull_request", ref: "refs/tags/v9.9.9" }));
  // The release rule refuses pull requests; the organisation rule grants pull only.
  assert.equal((await get(`/acme/charts/index.yaml`, bearer(pr))).status, 200);
  const push = await fetch(`${worker.url}/api/acme/charts/charts`, { method: "POST", headers: bearer(pr), body: makeChartRepo("prchart", "0.0.1").tgz });
  assert.equal((await refusal(push)).reason, "insufficient_scope");
});

test("GitLab CI: curl uploads through the ChartMuseum API with the job's id_token; a template fills only valid names", async () => {
  const chart = makeChartRepo("glchart", "0.2.0");
  const token = gl.mint(gitlab({ aud: AUD, project_path: "grp/app" }));
  const path = join(chart.dir, chart.file);
  // Not execFileSync: the provider answering the edge's key fetch runs in this process.
  const { out } = await run("curl", ["-sS", "-w", "\n%{http_code}", "-H", `Authorization: Bearer ${token}`, "--data-binary", `@${path}`, `${worker.url}/api/grp/charts/charts`]);
  assert.match(out, /201$/, out);
  const branch = gl.mint(gitlab({ aud: AUD, project_path: "grp/lib", ref: "main", ref_type: "branch" }));
  assert.equal((await get("/grp/lib/index.yaml", bearer(branch))).status, 200, "{project_path} fills grp/lib");
  assert.equal((await refusal(await get("/grp/charts/index.yaml", bearer(branch)))).reason, "insufficient_scope");
  // Values that would change the scope's structure fill nothing: the rule does not match.
  for (const project_path of ["grp/..", "grp/*", "grp/a:push", "grp/a,b", "grp/a b", "grp/Ａpp", "grp/App"]) {
    const evil = gl.mint(gitlab({ aud: AUD, project_path, namespace_path: "grp", ref: "main", ref_type: "branch" }));
    const r = await refusal(await get("/grp/app/index.yaml", bearer(evil)));
    assert.equal(r.reason, "no_trust_rule", `${project_path}: ${JSON.stringify(r.body)}`);
  }
});

test("Kubernetes: an ES256 projected service-account token pulls with ?token= and as the Basic password", async () => {
  const token = k8s.mint(kubernetes({ aud: AUD }));
  assert.equal((await get(`/acme/charts/index.yaml?token=${token}`)).status, 200);
  assert.equal((await get(`/acme/charts/index.yaml`, { Authorization: basic("whoever", token) })).status, 200);
  const other = k8s.mint(kubernetes({ aud: AUD, serviceaccount: "default" }));
  assert.equal((await refusal(await get(`/acme/charts/index.yaml?token=${other}`))).reason, "no_trust_rule");
});

test("the edge's /token returns the presented token unchanged, and nothing for a bad one", async () => {
  const token = gh.mint(github({ aud: AUD, repository: "acme/deploy", ref: "refs/heads/main" }));
  const viaGet = await get("/token?service=chartgate&scope=repository:acme/charts/web:pull", { Authorization: basic("oidc", token) });
  assert.equal(viaGet.status, 200);
  const body = await viaGet.json();
  assert.equal(body.token, token);
  assert.equal(body.access_token, token);
  assert.ok(body.expires_in > 0 && body.expires_in <= 300, `never longer than the token: ${body.expires_in}`);
  assert.equal(viaGet.headers.get("cache-control"), "no-store");
  const form = `client_id=oras-go&grant_type=password&username=oidc&password=${encodeURIComponent(token)}&service=chartgate`;
  const viaPost = await fetch(`${worker.url}/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form });
  assert.equal((await viaPost.json()).access_token, token);
  const refresh = await fetch(`${worker.url}/token`, { method: "POST", body: "grant_type=refresh_token&refresh_token=x" });
  assert.equal(refresh.status, 400);
  assert.equal((await refresh.json()).error, "unsupported_grant_type");
  const fork = gh.mint(github({ aud: AUD, repository: "evil/app" }));
  const bad = await get("/token?service=chartgate", { Authorization: basic("oidc", fork) });
  assert.equal(bad.status, 401);
  assert.ok(!(await bad.text()).includes(fork.split(".")[1]), "a refused token is never echoed");
  const none = await get("/token?service=chartgate");
  assert.equal(none.status, 401);
  assert.match(none.headers.get("www-authenticate"), new RegExp(`realm="${worker.url.replace(/[/.]/g, "\\$&")}/token"`));
});

test("hostile workload tokens are refused with their reason and nothing granted", async () => {
  const claims = github({ aud: AUD });
  const cases = [
    ["wrong audience", gh.mint({ ...claims, aud: "https://other.example" }), "wrong_audience"],
    ["missing audience", gh.mint({ ...claims, aud: undefined }), "missing_claim"],
    ["expired", gh.mint({ ...claims, exp: Math.floor(Date.now() / 1000) - 600, iat: Math.floor(Date.now() / 1000) - 900 }), "expired"],
    ["nbf in the future", gh.mint({ ...claims, nbf: Math.floor(Date.now() / 1000) + 3600 }), "not_yet_valid"],
    ["another repository", gh.mint(github({ aud: AUD, repository: "other/app" })), "no_trust_rule"],
    // An untrusted issuer whose key has the trusted key's kid: routed by its own iss, trusted by nothing.
    ["untrusted issuer, same kid", signJwt(keyPair("RS256", gh.key.kid), { ...claims, iss: "https://evil.example" }), "untrusted_issuer"],
    // The trusted iss and kid, signed by another key.
    ["trusted iss, another key", signJwt(keyPair("RS256", gh.key.kid), { ...claims, iss: gh.issuer }), "bad_signature"],
    ["alg none", unsigned({ ...claims, iss: gh.issuer }, { kid: gh.key.kid }), "alg_not_allowed"],
    [
      "HS256 keyed with the public key",
      signHs256(createPublicKey(gh.key.privateKey).export({ type: "spki", format: "pem" }), { ...claims, iss: gh.issuer }, { kid: gh.key.kid }),
      "alg_not_allowed",
    ],
    ["RS256 against the EC key", signJwt(keyPair("RS256", k8s.key.kid), kubernetes({ aud: AUD, iss: k8s.issuer })), "alg_key_mismatch"],
  ];
  for (const [name, token, reason] of cases) {
    for (const request of [
      () => get("/acme/charts/index.yaml", bearer(token)),
      () => get("/acme/charts/index.yaml", { Authorization: basic("oidc", token) }),
      () => get(`/acme/charts/index.yaml?token=${token}`),
      () => get("/v2/acme/charts/web/tags/list", bearer(token)),
      () => get("/token?service=chartgate", { Authorization: basic("oidc", token) }),
    ]) {
      const r = await refusal(await request());
      assert.equal(r.status, 401, `${name}: ${JSON.stringify(r.body)}`);
      assert.equal(r.reason ?? reason, reason, `${name}: ${JSON.stringify(r.body)}`);
    }
  }
  const lines = auditLines(worker.logs).filter((l) => l.decision === "allow");
  assert.ok(lines.every((l) => l.reason !== "ok" || l.policy), "every allowed workload request names its policy");
});

test("the audit line names the policy, the trusted issuer and the workload; revocation by sub, policy and issuer", async () => {
  const token = gh.mint(github({ aud: AUD, repository: "acme/deploy", ref: "refs/heads/main" }));
  assert.equal((await get("/acme/charts/index.yaml", bearer(token))).status, 200);
  const line = auditLines(worker.logs).filter((l) => l.decision === "allow" && l.sub === "repo:acme/deploy:ref:refs/heads/main").at(-1);
  assert.equal(line.policy, "github");
  assert.equal(line.issuer, gh.issuer);
  const kv = await worker.mf.getKVNamespace("REVOCATIONS");
  for (const key of ["sub:repo:acme/deploy:ref:refs/heads/main", "policy:github", `iss:${gh.issuer}`]) {
    await kv.put(key, "revoked");
    const r = await refusal(await get("/acme/charts/index.yaml", bearer(token)));
    assert.equal(r.reason, "revoked", key);
    await kv.delete(key);
    assert.equal((await get("/acme/charts/index.yaml", bearer(token))).status, 200, `${key} lifted`);
  }
  // Revoking GitHub leaves GitLab's workloads alone.
  await kv.put("policy:github", "revoked");
  const glToken = gl.mint(gitlab({ aud: AUD, project_path: "grp/lib", ref: "main", ref_type: "branch" }));
  assert.equal((await get("/grp/lib/index.yaml", bearer(glToken))).status, 200);
  await kv.delete("policy:github");
});

test("a provider's JWKS down: fail closed with 503, then recovery", async () => {
  const w = await startWorker(
    { TRUST_POLICIES: JSON.stringify([githubPolicy(gh.issuer)]), JWKS_TTL: "0", JWKS_MAX_STALE: "0", JWKS_REFETCH_INTERVAL: "0" },
    { port: 0 },
  );
  started.push(w);
  const token = gh.mint(github({ aud: AUD, repository: "acme/deploy", ref: "refs/heads/main" }));
  assert.equal((await fetch(`${w.url}/acme/charts/index.yaml`, { headers: bearer(token) })).status, 200);
  gh.up = false;
  try {
    const fresh = gh.mint(github({ aud: AUD, repository: "acme/deploy", ref: "refs/heads/dev" }));
    const down = await fetch(`${w.url}/acme/charts/index.yaml`, { headers: bearer(fresh) });
    assert.equal(down.status, 503, await down.text());
  } finally {
    gh.up = true;
  }
  const again = gh.mint(github({ aud: AUD, repository: "acme/deploy", ref: "refs/heads/dev" }));
  assert.equal((await fetch(`${w.url}/acme/charts/index.yaml`, { headers: bearer(again) })).status, 200);
});

test("finding 11 (security round 4): a trust policy whose JWKS is unreachable answers 503 keys_unavailable, in the body and in the audit line", async () => {
  // Nothing listens at the policy's JWKS URL (a port closed at once), and no key was ever fetched.
  const closed = await startProvider();
  const jwks_url = `${closed.issuer}/jwks`;
  await closed.close();
  const w = await startWorker({ TRUST_POLICIES: JSON.stringify([{ ...githubPolicy(gh.issuer), jwks_url }]), JWKS_REFETCH_INTERVAL: "0" }, { port: 0 });
  started.push(w);
  const token = gh.mint(github({ aud: AUD, repository: "acme/deploy", ref: "refs/heads/main" }));
  for (const headers of [bearer(token), { Authorization: basic("oidc", token) }]) {
    const res = await fetch(`${w.url}/acme/charts/index.yaml`, { headers });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("cache-control"), "no-store");
    const body = await res.json();
    assert.equal(body.error, "keys_unavailable", JSON.stringify(body));
    assert.match(body.error_description, /trust policy "github"/);
  }
  const line = auditLines(w.logs).filter((l) => l.path === "/acme/charts/index.yaml").at(-1);
  assert.equal(line.decision, "deny");
  assert.equal(line.reason, "keys_unavailable", JSON.stringify(line));
  assert.equal(line.status, 503);
});

test("a policy with a syntax error: the worker serves nothing and its log names the line", async () => {
  const broken = JSON.stringify([githubPolicy(gh.issuer)], null, 2).replace('"audience"', '"audience" :: ');
  const w = await startWorker({ TRUST_POLICIES: broken }, { port: 0 });
  started.push(w);
  const token = gh.mint(github({ aud: AUD }));
  for (const path of ["/acme/charts/index.yaml", "/v2/", "/token", "/health"]) {
    const r = await fetch(`${w.url}${path}`, { headers: bearer(token) });
    assert.equal(r.status, 500, path);
  }
  assert.ok(w.logs.some((l) => /TRUST_POLICIES: line 5 column/.test(l)), w.logs.join("\n"));
});

test("a provider's key rotation: a token under a new kid verifies after one refetch; the old kid keeps working", async () => {
  const { keyPair: pair } = await import("./oidc.mjs");
  const before = gh.key;
  const next = pair("RS256");
  gh.keys.push(next);
  gh.key = next;
  try {
    const token = gh.mint(github({ aud: AUD, repository: "acme/deploy", ref: "refs/heads/rotated" }));
    assert.equal((await get("/acme/charts/index.yaml", bearer(token))).status, 200);
  } finally {
    gh.key = before;
  }
  const old = gh.mint(github({ aud: AUD, repository: "acme/deploy", ref: "refs/heads/old" }));
  assert.equal((await get("/acme/charts/index.yaml", bearer(old))).status, 200);
});
