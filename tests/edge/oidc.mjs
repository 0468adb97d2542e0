// A local OpenID provider standing in for the CI platforms and Kubernetes, which cannot run here:
// it serves OIDC discovery and a JWKS on loopback (switchable down and up again) and signs tokens
// with each platform's documented claim set (GitHub Actions' "About security hardening with
// OpenID Connect", GitLab's `id_tokens`, Kubernetes' projected service-account tokens), RS256 or
// ES256. It signs with node's crypto; nothing here decides anything.
import { createHash, createHmac, generateKeyPairSync, randomBytes, randomUUID, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

/** A key pair: `{alg, kid, privateKey, publicKey, jwk}`. */
export function keyPair(alg = "RS256", kid) {
  const { privateKey, publicKey } =
    alg === "ES256"
      ? generateKeyPairSync("ec", { namedCurve: "P-256" })
      : generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = publicKey.export({ format: "jwk" });
  kid ??= createHash("sha256").update(JSON.stringify(jwk)).digest("base64url").slice(0, 16);
  return { alg, kid, privateKey, publicKey, jwk: { ...jwk, kid, alg, use: "sig" } };
}

/** Signs `claims` as a compact JWS with `key` (header overrides in `header`). */
export function signJwt(key, claims, header = {}) {
  const head = { typ: "JWT", alg: key.alg, kid: key.kid, ...header };
  const input = `${b64(head)}.${b64(claims)}`;
  const signature =
    key.alg === "ES256"
      ? sign("sha256", Buffer.from(input), { key: key.privateKey, dsaEncoding: "ieee-p1363" })
      : sign("sha256", Buffer.from(input), key.privateKey);
  return `${input}.${signature.toString("base64url")}`;
}

/** An HS256 token keyed with `secret` (the algorithm-confusion attack). */
export function signHs256(secret, claims, header = {}) {
  const input = `${b64({ typ: "JWT", alg: "HS256", ...header })}.${b64(claims)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

/** An unsigned token (`alg: none`). */
export const unsigned = (claims, header = {}) => `${b64({ alg: "none", ...header })}.${b64(claims)}.`;

/**
 * Starts a provider on loopback: `{issuer, key, mint(claims), up, close, hits}`. `up = false`
 * makes discovery and the JWKS answer 503 until set back. It also plays GitHub's token service
 * for a job: `GET {requestUrl}&audience=…` with `Authorization: bearer {requestToken}` answers
 * `{"value": <token>}` with the claims of `github({aud, ...job})` (set `job` per job).
 */
export async function startProvider({ alg = "RS256", kid } = {}) {
  const key = keyPair(alg, kid);
  const state = { key, up: true, hits: 0, keys: [key], job: {}, requestToken: randomBytes(16).toString("hex") };
  const server = createServer((req, res) => {
    state.hits++;
    if (!state.up) {
      res.writeHead(503).end("down");
      return;
    }
    if (req.url === "/.well-known/openid-configuration") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ issuer: state.issuer, jwks_uri: `${state.issuer}/jwks`, id_token_signing_alg_values_supported: [alg] }));
    } else if (req.url.startsWith("/_apis/idtoken?")) {
      const audience = new URL(req.url, state.issuer).searchParams.get("audience");
      if (req.headers.authorization !== `bearer ${state.requestToken}`) {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ value: state.mint(github({ aud: audience, ...state.job })) }));
    } else if (req.url === "/jwks") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: state.keys.map((k) => k.jwk) }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  state.issuer = `http://127.0.0.1:${server.address().port}`;
  state.mint = (claims, header) => signJwt(state.key, { iss: state.issuer, ...claims }, header);
  state.requestUrl = `${state.issuer}/_apis/idtoken?api-version=2.0`;
  state.close = () => new Promise((r) => server.close(r));
  return state;
}

const now = () => Math.floor(Date.now() / 1000);

/**
 * The numeric ids of the repositories, owners, projects and groups docs/ci.md's recipes name
 * (GitHub's `repository_id`/`repository_owner_id`, GitLab's `project_id`/`namespace_id`), and the
 * publisher service account's `uid`. Any other name gets an id derived from it, so one name has
 * one id in every token; a test of a re-created repository passes another id explicitly.
 */
export const IDS = {
  "acme/app": "892364310",
  acme: "74563812",
  "grp/app": "45871236",
  grp: "13061982",
  "release/chart-publisher": "6c3e1f2a-9b4d-4e8f-a1c7-2d5b8e0f3a91",
};

/** The id of `name`: the recipe's, or one derived from the name. */
export function idOf(name) {
  return IDS[name] ?? String(parseInt(createHash("sha256").update(name).digest("hex").slice(0, 7), 16));
}

/** A service account's `uid`: the recipe's, or a UUID-shaped one derived from `namespace/name`. */
function uidOf(namespace, name) {
  const key = `${namespace}/${name}`;
  if (IDS[key]) return IDS[key];
  const h = createHash("sha256").update(key).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * GitHub Actions' claim set for a job of `repository` on `ref` (a tag `refs/tags/…` or a branch),
 * from the workflow file `workflow` (e.g. `release.yml`), for `event_name`.
 */
export function github({ aud, repository = "acme/app", ref = "refs/tags/v1.0.0", workflow = "release.yml", event_name = "push", ttl = 300, ...extra }) {
  const [owner] = repository.split("/");
  const t = now();
  const refType = ref.startsWith("refs/tags/") ? "tag" : "branch";
  const workflowRef = `${repository}/.github/workflows/${workflow}@${ref}`;
  return {
    jti: randomUUID(),
    sub: event_name.startsWith("pull_request") ? `repo:${repository}:pull_request` : `repo:${repository}:ref:${ref}`,
    aud,
    ref,
    sha: "a".repeat(40),
    repository,
    repository_owner: owner,
    repository_owner_id: idOf(owner),
    run_id: "1",
    run_number: "1",
    run_attempt: "1",
    repository_visibility: "private",
    repository_id: idOf(repository),
    actor_id: "12",
    actor: "octocat",
    workflow: "Release",
    head_ref: "",
    base_ref: "",
    event_name,
    ref_type: refType,
    ref_protected: "false",
    workflow_ref: workflowRef,
    workflow_sha: "a".repeat(40),
    job_workflow_ref: workflowRef,
    job_workflow_sha: "a".repeat(40),
    runner_environment: "github-hosted",
    nbf: t - 5,
    iat: t - 5,
    exp: t + ttl,
    ...extra,
  };
}

/** GitLab CI's `id_tokens` claim set for a job of `project_path` on `ref`. */
export function gitlab({ aud, project_path = "grp/app", ref = "v1.0.0", ref_type = "tag", ttl = 300, ...extra }) {
  const namespace = project_path.split("/").slice(0, -1).join("/");
  const t = now();
  return {
    namespace_id: idOf(namespace),
    namespace_path: namespace,
    project_id: idOf(project_path),
    project_path,
    user_id: "5",
    user_login: "dev",
    user_email: "dev@example.com",
    user_access_level: "developer",
    pipeline_id: "574",
    pipeline_source: "push",
    job_id: "302",
    ref,
    ref_type,
    ref_path: ref_type === "tag" ? `refs/tags/${ref}` : `refs/heads/${ref}`,
    ref_protected: "true",
    runner_id: 1,
    runner_environment: "gitlab-hosted",
    sha: "b".repeat(40),
    project_visibility: "private",
    ci_config_ref_uri: `gitlab.example.com/${project_path}//.gitlab-ci.yml@refs/heads/main`,
    ci_config_sha: "b".repeat(40),
    jti: randomUUID(),
    iat: t - 5,
    nbf: t - 5,
    exp: t + ttl,
    sub: `project_path:${project_path}:ref_type:${ref_type}:ref:${ref}`,
    aud,
    ...extra,
  };
}

/** A projected service-account token of `namespace`/`serviceaccount` (Kubernetes ≥ 1.24). */
export function kubernetes({ aud, namespace = "ci", serviceaccount = "deployer", ttl = 600, ...extra }) {
  const t = now();
  return {
    aud: [aud],
    exp: t + ttl,
    iat: t - 5,
    nbf: t - 5,
    jti: randomUUID(),
    "kubernetes.io": {
      namespace,
      node: { name: "node-1", uid: randomUUID() },
      pod: { name: `${serviceaccount}-7d4b9`, uid: randomUUID() },
      serviceaccount: { name: serviceaccount, uid: uidOf(namespace, serviceaccount) },
    },
    sub: `system:serviceaccount:${namespace}:${serviceaccount}`,
    ...extra,
  };
}

/**
 * A GitHub trust policy for a provider at `issuer`: tags `v*` of `acme/app` push to `acme/charts`,
 * every repository of `acme` pulls from `acme/*`; the repository and the organisation bound by
 * their ids, as docs/ci.md's recipe does.
 */
export function acmePolicy(issuer, audience = "https://charts.example.com") {
  return {
    name: "github",
    issuer,
    audience,
    rules: [
      {
        name: "release",
        match: { repository_id: IDS["acme/app"], repository: "acme/app", ref: "refs/tags/v.*" },
        scopes: ["artifact-repository:acme/charts:pull,push"],
      },
      {
        name: "org-pull",
        match: { repository_owner_id: IDS.acme, repository_owner: "acme" },
        scopes: ["artifact-repository:{repository_owner}/*:pull"],
      },
    ],
  };
}

/**
 * The policy docs/ci.md shows under `<!-- ci.md: NAME-policy -->` (`github`, `gitlab`,
 * `kubernetes`), as an object, with `overrides` (the local provider's `issuer`, its `keys`).
 */
export function recipePolicy(name, overrides = {}) {
  const text = readFileSync(new URL("../../docs/ci.md", import.meta.url), "utf8");
  const m = text.match(new RegExp(`<!-- ci\\.md: ${name}-policy -->\\n\`\`\`json\\n([\\s\\S]*?)\\n\`\`\``));
  if (!m) throw new Error(`docs/ci.md has no block ${name}-policy`);
  const doc = JSON.parse(m[1]);
  return { ...(Array.isArray(doc) ? doc[0] : doc), ...overrides };
}
