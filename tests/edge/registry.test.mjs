// The OCI registry over raw HTTP in workerd, as the distribution spec (v1.1) words it: the
// challenge, pushes (monolithic, POST+PUT, chunked with Content-Range), mounts, pulls with Range,
// tags with n/last, referrers with artifactType, deletes; repository isolation of blobs and
// uploads; and hostile input, each a spec error with nothing stored.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { disposeAfter, keygen, mint, sha256, startWorker } from "./harness.mjs";

const started = disposeAfter(after);
let key, w, bucket;
const A = "org1/repo1/a";
const B = "org1/repo1/b";

before(async () => {
  key = keygen();
  w = await startWorker({ JWKS: key.jwks, REALM: "https://issuer.test/token", SERVICE: "chartgate" });
  started.push(w);
  bucket = await w.mf.getR2Bucket("CHARTS");
});

const sha512 = (b) => "sha512:" + createHash("sha512").update(b).digest("hex");
const auth = (scope) => ({ Authorization: `Bearer ${mint(key, scope)}` });
const RW = () => auth("artifact-repository:org1/repo1:pull,push");

async function call(method, path, { headers = {}, body } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = body;
    init.headers["Content-Length"] = String(Buffer.byteLength(body));
  }
  return w.mf.dispatchFetch(`http://registry.test${path}`, init);
}

async function errorCode(res) {
  const body = await res.json();
  return body.errors?.[0]?.code;
}

async function pushBlob(repo, bytes, headers = RW()) {
  const res = await call("POST", `/v2/${repo}/blobs/uploads/?digest=${sha256(bytes)}`, { headers, body: bytes });
  assert.equal(res.status, 201, await res.text());
  return sha256(bytes);
}

async function allKeys() {
  return (await bucket.list({ limit: 1000 })).objects.map((o) => o.key).sort();
}

function imageManifest(config, layers, extra = {}) {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: "application/octet-stream", digest: sha256(l), size: l.length })),
    ...extra,
  });
}

async function pushManifest(repo, ref, manifest, headers = RW()) {
  return call("PUT", `/v2/${repo}/manifests/${ref}`, {
    headers: { ...headers, "Content-Type": "application/vnd.oci.image.manifest.v1+json" },
    body: manifest,
  });
}

test("GET /v2/: 401 challenge without a token, 200 with any valid one", async () => {
  const res = await call("GET", "/v2/");
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("docker-distribution-api-version"), "registry/2.0");
  assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="https://issuer.test/token",service="chartgate"');
  assert.equal(await errorCode(res), "UNAUTHORIZED");
  assert.equal((await call("GET", "/v2/", { headers: auth("repository:x/y/z:pull") })).status, 200);
  const scoped = await call("GET", `/v2/${A}/tags/list`);
  assert.match(scoped.headers.get("www-authenticate"), /scope="repository:org1\/repo1\/a:pull"/);
});

test("a token lacking a scope is a 401 challenge naming it, so registry clients ask for it", async () => {
  const res = await call("POST", `/v2/${A}/blobs/uploads/`, { headers: auth("artifact-repository:org1/repo1:pull") });
  assert.equal(res.status, 401);
  assert.match(res.headers.get("www-authenticate"), /scope="repository:org1\/repo1\/a:push",error="insufficient_scope"/);
  assert.equal(await errorCode(res), "DENIED");
  const prefix = await call("GET", `/v2/org1/repo10/a/tags/list`, { headers: RW() });
  assert.equal(prefix.status, 401, "org1/repo1 does not cover org1/repo10/a");
  const deeper = await call("GET", `/v2/org1/repo1/a/b/tags/list`, { headers: RW() });
  assert.equal(deeper.status, 401, "org1/repo1 does not cover org1/repo1/a/b");
});

test("push and pull: POST+PUT, HEAD with digest and length, GET with Range, edge cache after the first read", async () => {
  const blob = Buffer.from("layer content ".repeat(100));
  const post = await call("POST", `/v2/${A}/blobs/uploads/`, { headers: RW() });
  assert.equal(post.status, 202);
  const location = post.headers.get("location");
  assert.match(location, /^\/v2\/org1\/repo1\/a\/blobs\/uploads\/[0-9a-f-]{36}$/);
  const put = await call("PUT", `${location}?digest=${sha256(blob)}`, { headers: RW(), body: blob });
  assert.equal(put.status, 201);
  assert.equal(put.headers.get("docker-content-digest"), sha256(blob));
  assert.equal(put.headers.get("location"), `/v2/${A}/blobs/${sha256(blob)}`);
  const head = await call("HEAD", `/v2/${A}/blobs/${sha256(blob)}`, { headers: RW() });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), String(blob.length));
  assert.equal(head.headers.get("docker-content-digest"), sha256(blob));
  const first = await call("GET", `/v2/${A}/blobs/${sha256(blob)}`, { headers: RW() });
  assert.deepEqual(Buffer.from(await first.arrayBuffer()), blob);
  assert.equal(first.headers.get("x-chartgate-cache"), "R2");
  const again = await call("GET", `/v2/${A}/blobs/${sha256(blob)}`, { headers: RW() });
  assert.equal(again.headers.get("x-chartgate-cache"), "HIT");
  await again.arrayBuffer();
  const range = await call("GET", `/v2/${A}/blobs/${sha256(blob)}`, { headers: { ...RW(), Range: "bytes=6-12" } });
  assert.equal(range.status, 206);
  assert.equal(range.headers.get("content-range"), `bytes 6-12/${blob.length}`);
  assert.equal(await range.text(), "content");
  const missing = await call("GET", `/v2/${A}/blobs/${sha256("nothing")}`, { headers: RW() });
  assert.equal((missing.status), 404);
  assert.equal(await errorCode(missing), "BLOB_UNKNOWN");
});

test("an empty blob, monolithic and through a session", async () => {
  const empty = Buffer.alloc(0);
  const one = await call("POST", `/v2/${A}/blobs/uploads/?digest=${sha256(empty)}`, { headers: RW(), body: empty });
  assert.equal(one.status, 201, await one.text());
  const post = await call("POST", `/v2/${B}/blobs/uploads/`, { headers: RW() });
  const put = await call("PUT", `${post.headers.get("location")}?digest=${sha256(empty)}`, { headers: RW() });
  assert.equal(put.status, 201, await put.text());
  const head = await call("HEAD", `/v2/${B}/blobs/${sha256(empty)}`, { headers: RW() });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), "0");
});

test("sha512 digests", async () => {
  const blob = Buffer.from("sha512 content");
  const res = await call("POST", `/v2/${A}/blobs/uploads/?digest=${sha512(blob)}`, { headers: RW(), body: blob });
  assert.equal(res.status, 201, await res.text());
  const get = await call("GET", `/v2/${A}/blobs/${sha512(blob)}`, { headers: RW() });
  assert.equal(await get.text(), "sha512 content");
});

test("chunked upload: PATCH with Content-Range, out of order is 416 with the current Range, status, final PUT", async () => {
  const blob = Buffer.from("0123456789".repeat(30));
  const post = await call("POST", `/v2/${A}/blobs/uploads/`, { headers: RW() });
  const location = post.headers.get("location");
  const patch = (start, end, headers = RW()) =>
    call("PATCH", location, {
      headers: { ...headers, "Content-Type": "application/octet-stream", "Content-Range": `${start}-${end}` },
      body: blob.subarray(start, end + 1),
    });
  const p1 = await patch(0, 99);
  assert.equal(p1.status, 202);
  assert.equal(p1.headers.get("range"), "0-99");
  const gap = await patch(150, 199);
  assert.equal(gap.status, 416);
  assert.equal(gap.headers.get("range"), "0-99");
  const status = await call("GET", location, { headers: RW() });
  assert.equal(status.status, 204);
  assert.equal(status.headers.get("range"), "0-99");
  assert.equal((await patch(100, 199)).status, 202);
  const last = await call("PUT", `${location}?digest=${sha256(blob)}`, {
    headers: { ...RW(), "Content-Range": "200-299" },
    body: blob.subarray(200),
  });
  assert.equal(last.status, 201, await last.text());
  const get = await call("GET", `/v2/${A}/blobs/${sha256(blob)}`, { headers: RW() });
  assert.deepEqual(Buffer.from(await get.arrayBuffer()), blob);
  assert.ok(!(await allKeys()).some((k) => k.startsWith("_oci/uploads/")), "the session is gone");
});

test("a chunked upload above 32 MiB is hashed while re-cut into R2 multipart parts, and completed only when it matches", async () => {
  const chunk = 12 * 1024 * 1024;
  const blob = Buffer.alloc(3 * chunk + 1234);
  for (let i = 0; i < blob.length; i += 4096) blob.writeUInt32LE(i, i);
  const upload = async (digest) => {
    const post = await call("POST", `/v2/${A}/blobs/uploads/`, { headers: RW() });
    const location = post.headers.get("location");
    for (let start = 0; start < blob.length; start += chunk) {
      const end = Math.min(start + chunk, blob.length) - 1;
      const res = await call("PATCH", location, {
        headers: { ...RW(), "Content-Range": `${start}-${end}` },
        body: blob.subarray(start, end + 1),
      });
      assert.equal(res.status, 202, await res.text());
    }
    return call("PUT", `${location}?digest=${digest}`, { headers: RW() });
  };
  const wrong = await upload(sha256("something else"));
  assert.equal(wrong.status, 400);
  assert.equal(await errorCode(wrong), "DIGEST_INVALID");
  assert.equal((await bucket.head(`_oci/blobs/sha256/${createHash("sha256").update("something else").digest("hex")}`)), null);
  const right = await upload(sha256(blob));
  assert.equal(right.status, 201, await right.text());
  const get = await call("GET", `/v2/${A}/blobs/${sha256(blob)}`, { headers: RW() });
  const got = Buffer.from(await get.arrayBuffer());
  assert.equal(got.length, blob.length);
  assert.equal(sha256(got), sha256(blob));
});

test("a blob is readable only through a repository it was pushed or mounted into", async () => {
  const secret = Buffer.from("only in a");
  const d = await pushBlob(A, secret);
  const other = await call("GET", `/v2/${B}/blobs/${d}`, { headers: RW() });
  assert.equal(other.status, 404, "a token for b cannot read a's blob by its digest");
  assert.equal(await errorCode(other), "BLOB_UNKNOWN");
  // A mount needs pull on the source: a token for b alone gets a plain upload session instead.
  const onlyB = auth("repository:org1/repo1/b:pull,push");
  const refused = await call("POST", `/v2/${B}/blobs/uploads/?mount=${d}&from=${encodeURIComponent(A)}`, { headers: onlyB });
  assert.equal(refused.status, 202);
  assert.equal((await call("GET", `/v2/${B}/blobs/${d}`, { headers: onlyB })).status, 404);
  const mounted = await call("POST", `/v2/${B}/blobs/uploads/?mount=${d}&from=${encodeURIComponent(A)}`, { headers: RW() });
  assert.equal(mounted.status, 201);
  assert.equal(mounted.headers.get("location"), `/v2/${B}/blobs/${d}`);
  assert.equal(await (await call("GET", `/v2/${B}/blobs/${d}`, { headers: RW() })).text(), "only in a");
  const unknown = await call("POST", `/v2/${B}/blobs/uploads/?mount=${sha256("none")}&from=${encodeURIComponent(A)}`, { headers: RW() });
  assert.equal(unknown.status, 202, "a mount of an unknown blob falls back to an upload");
});

test("an upload session belongs to its repository", async () => {
  const post = await call("POST", `/v2/${A}/blobs/uploads/`, { headers: RW() });
  const id = post.headers.get("location").split("/").pop();
  const stolen = await call("PATCH", `/v2/${B}/blobs/uploads/${id}`, { headers: RW(), body: "x" });
  assert.equal(stolen.status, 404);
  assert.equal(await errorCode(stolen), "BLOB_UPLOAD_UNKNOWN");
  const cancel = await call("DELETE", `/v2/${A}/blobs/uploads/${id}`, { headers: RW() });
  assert.equal(cancel.status, 204);
  assert.equal((await call("GET", `/v2/${A}/blobs/uploads/${id}`, { headers: RW() })).status, 404);
});

test("an abandoned upload session expires after 24 hours and its objects are removed when touched", async () => {
  const id = "0a0a0a0a-1111-2222-3333-444444444444";
  const started = Math.floor(Date.now() / 1000) - 25 * 3600;
  await bucket.put(`_oci/uploads/${id}`, JSON.stringify({ repo: A, started }));
  await bucket.put(`_oci/uploads/${id}/00000`, "old chunk");
  const res = await call("PATCH", `/v2/${A}/blobs/uploads/${id}`, { headers: RW(), body: "more" });
  assert.equal(res.status, 404);
  assert.equal(await errorCode(res), "BLOB_UPLOAD_UNKNOWN");
  assert.ok(!(await allKeys()).some((k) => k.startsWith(`_oci/uploads/${id}`)), "the expired session is gone");
});

test("manifests: helm's form without mediaType, HEAD, tags with n/last and Link, delete", async () => {
  // An artifact in helm's manifest form (no top-level mediaType); a helm chart's config would make
  // it a chart, which enters through the entry gate (tests/edge/entry-gate.test.mjs).
  const config = Buffer.from("{}");
  const layer = Buffer.from("layer bytes");
  await pushBlob(A, config);
  await pushBlob(A, layer);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: 2 },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha256(layer), size: layer.length }],
  });
  for (const tag of ["0.1.0", "0.2.0", "latest"]) {
    const put = await pushManifest(A, tag, manifest);
    assert.equal(put.status, 201, await put.text());
    assert.equal(put.headers.get("docker-content-digest"), sha256(manifest));
  }
  const head = await call("HEAD", `/v2/${A}/manifests/0.1.0`, { headers: RW() });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-type"), "application/vnd.oci.image.manifest.v1+json");
  assert.equal(head.headers.get("content-length"), String(manifest.length));
  const byDigest = await call("GET", `/v2/${A}/manifests/${sha256(manifest)}`, { headers: RW() });
  assert.equal(await byDigest.text(), manifest, "the exact bytes pushed");
  const page = await call("GET", `/v2/${A}/tags/list?n=2`, { headers: RW() });
  assert.deepEqual(await page.json(), { name: A, tags: ["0.1.0", "0.2.0"] });
  assert.equal(page.headers.get("link"), `</v2/${A}/tags/list?n=2&last=0.2.0>; rel="next"`);
  const next = await call("GET", `/v2/${A}/tags/list?n=2&last=0.2.0`, { headers: RW() });
  assert.deepEqual((await next.json()).tags, ["latest"]);
  assert.equal(next.headers.get("link"), null);
  assert.deepEqual((await (await call("GET", `/v2/${A}/tags/list?n=0`, { headers: RW() })).json()).tags, []);
  const unknownRepo = await call("GET", `/v2/org1/repo1/nothing/tags/list`, { headers: RW() });
  assert.equal(unknownRepo.status, 404);
  assert.equal(await errorCode(unknownRepo), "NAME_UNKNOWN");
  assert.equal((await call("DELETE", `/v2/${A}/manifests/latest`, { headers: RW() })).status, 202);
  assert.equal((await call("GET", `/v2/${A}/manifests/latest`, { headers: RW() })).status, 404);
  assert.equal((await call("DELETE", `/v2/${A}/manifests/${sha256(manifest)}`, { headers: RW() })).status, 202);
  const gone = await call("GET", `/v2/${A}/manifests/0.1.0`, { headers: RW() });
  assert.equal(gone.status, 404, "deleting a manifest removes the tags pointing at it");
  assert.equal(await errorCode(gone), "MANIFEST_UNKNOWN");
  assert.equal((await call("GET", `/v2/${A}/manifests/${sha256(manifest)}`, { headers: RW() })).status, 404, "not served from the edge cache");
});

test("released chart versions are immutable; other tags move", async () => {
  const config = Buffer.from('{"a":1}');
  await pushBlob(A, config);
  const m1 = imageManifest(config, []);
  const m2 = imageManifest(config, [], { annotations: { v: "2" } });
  assert.equal((await pushManifest(A, "1.0.0", m1)).status, 201);
  assert.equal((await pushManifest(A, "1.0.0", m1)).status, 201, "the same manifest again is fine");
  const moved = await pushManifest(A, "1.0.0", m2);
  assert.equal(moved.status, 409);
  const body = await moved.json();
  assert.equal(body.errors[0].code, "DENIED");
  assert.match(body.errors[0].message, /immutable/);
  assert.equal((await pushManifest(A, "dev", m1)).status, 201);
  assert.equal((await pushManifest(A, "dev", m2)).status, 201);
  assert.equal((await pushManifest(A, "1.1.0-rc.1", m1)).status, 201);
  assert.equal((await pushManifest(A, "1.1.0-rc.1", m2)).status, 201, "pre-releases move");
});

test("a helm chart pushed to another chart's repository is refused: index.yaml never lists it under that name", async () => {
  const config = Buffer.from(JSON.stringify({ apiVersion: "v2", name: "other", version: "1.0.0" }));
  const archive = Buffer.from("not really a chart, but a layer");
  await pushBlob(A, config);
  await pushBlob(A, archive);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    config: { mediaType: "application/vnd.cncf.helm.config.v1+json", digest: sha256(config), size: config.length },
    layers: [{ mediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", digest: sha256(archive), size: archive.length }],
  });
  const before = await allKeys();
  const res = await pushManifest(A, "1.0.0", manifest);
  assert.equal(res.status, 400);
  const error = (await res.json()).errors[0];
  assert.equal(error.code, "MANIFEST_INVALID");
  assert.match(error.message, /this helm chart is other, but org1\/repo1\/a holds chart a/);
  assert.deepEqual(await allKeys(), before, "nothing stored, index.yaml untouched");
});

test("referrers: subject, OCI-Subject, artifactType filter, push before the subject exists", async () => {
  const config = Buffer.from('{"r":1}');
  await pushBlob(A, config);
  const subject = imageManifest(config, []);
  const subjectDigest = sha256(subject);
  const emptyConfig = Buffer.from("{}");
  await pushBlob(A, emptyConfig);
  const referrer = (type) =>
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: type,
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256(emptyConfig), size: 2 },
      layers: [],
      subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: subjectDigest, size: subject.length },
      annotations: { note: type },
    });
  const sig = referrer("application/vnd.example.signature");
  const sbom = referrer("application/vnd.example.sbom");
  const early = await pushManifest(A, sha256(sig), sig);
  assert.equal(early.status, 201, "a referrer before its subject is accepted");
  assert.equal(early.headers.get("oci-subject"), subjectDigest);
  assert.equal((await pushManifest(A, "subject", subject)).status, 201);
  assert.equal((await pushManifest(A, sha256(sbom), sbom)).status, 201);
  const all = await call("GET", `/v2/${A}/referrers/${subjectDigest}`, { headers: RW() });
  assert.equal(all.headers.get("content-type"), "application/vnd.oci.image.index.v1+json");
  const index = await all.json();
  assert.equal(index.manifests.length, 2);
  assert.deepEqual(index.manifests.map((m) => m.artifactType).sort(), ["application/vnd.example.sbom", "application/vnd.example.signature"]);
  assert.equal(index.manifests.find((m) => m.digest === sha256(sig)).annotations.note, "application/vnd.example.signature");
  const filtered = await call("GET", `/v2/${A}/referrers/${subjectDigest}?artifactType=application/vnd.example.sbom`, { headers: RW() });
  assert.equal(filtered.headers.get("oci-filters-applied"), "artifactType");
  assert.deepEqual((await filtered.json()).manifests.map((m) => m.digest), [sha256(sbom)]);
  const none = await call("GET", `/v2/${A}/referrers/${sha256("no subject")}`, { headers: RW() });
  assert.deepEqual((await none.json()).manifests, []);
  assert.equal((await call("DELETE", `/v2/${A}/manifests/${sha256(sig)}`, { headers: RW() })).status, 202);
  assert.equal((await (await call("GET", `/v2/${A}/referrers/${subjectDigest}`, { headers: RW() })).json()).manifests.length, 1);
});

test("hostile input: each a clear spec error, nothing stored", async () => {
  const before = await allKeys();
  const blob = Buffer.from("payload");
  const cases = [
    ["bad digest", "POST", `/v2/${A}/blobs/uploads/?digest=${sha256("other")}`, blob, 400, "DIGEST_INVALID"],
    ["short digest", "POST", `/v2/${A}/blobs/uploads/?digest=sha256:abcd`, blob, 400, "DIGEST_INVALID"],
    ["unknown algorithm", "POST", `/v2/${A}/blobs/uploads/?digest=md5:${"a".repeat(32)}`, blob, 400, "DIGEST_INVALID"],
    ["sha512 of sha256 length", "GET", `/v2/${A}/blobs/sha512:${"a".repeat(64)}`, undefined, 400, "DIGEST_INVALID"],
    ["upper case name", "GET", `/v2/Org1/repo1/a/tags/list`, undefined, 400, "NAME_INVALID"],
    // (A literal `..` is resolved by the client's URL parser before it is sent.)
    ["dot component", "GET", `/v2/org1/.x/a/tags/list`, undefined, 400, "NAME_INVALID"],
    ["encoded slash", "GET", `/v2/org1%2Frepo1/a/tags/list`, undefined, 400, "NAME_INVALID"],
    ["long component", "GET", `/v2/org1/repo1/${"a".repeat(300)}/tags/list`, undefined, 400, "NAME_INVALID"],
    ["bad tag", "PUT", `/v2/${A}/manifests/-bad`, "{}", 400, "MANIFEST_INVALID"],
    ["unknown endpoint", "GET", `/v2/${A}/catalog`, undefined, 404, "UNSUPPORTED"],
    ["wrong method", "PATCH", `/v2/${A}/manifests/x`, "{}", 405, "UNSUPPORTED"],
    ["manifest not JSON", "PUT", `/v2/${A}/manifests/x1`, "not json", 400, "MANIFEST_INVALID"],
    [
      "manifest naming an unknown blob",
      "PUT",
      `/v2/${A}/manifests/x2`,
      imageManifest(Buffer.from("never pushed"), []),
      400,
      "MANIFEST_BLOB_UNKNOWN",
    ],
    ["manifest digest mismatch", "PUT", `/v2/${A}/manifests/${sha256("x")}`, imageManifest(Buffer.from("{}"), []), 400, "DIGEST_INVALID"],
  ];
  for (const [name, method, path, body, status, code] of cases) {
    const headers = { ...RW(), "Content-Type": "application/vnd.oci.image.manifest.v1+json" };
    const res = await call(method, path, { headers, body });
    assert.equal(res.status, status, `${name}: ${res.status}`);
    assert.equal(await errorCode(res), code, name);
  }
  // A chunk larger than its Content-Range declares.
  const post = await call("POST", `/v2/${B}/blobs/uploads/`, { headers: RW() });
  const location = post.headers.get("location");
  const liar = await call("PATCH", location, { headers: { ...RW(), "Content-Range": "0-3" }, body: "0123456789" });
  assert.equal(liar.status, 400);
  assert.equal(await errorCode(liar), "BLOB_UPLOAD_INVALID");
  const status = await call("GET", location, { headers: RW() });
  assert.equal(status.headers.get("range"), "0-0", "the lying chunk was not kept");
  // A chunked upload whose final digest is wrong: nothing becomes visible.
  assert.equal((await call("PATCH", location, { headers: { ...RW(), "Content-Range": "0-6" }, body: "payload" })).status, 202);
  const wrong = await call("PUT", `${location}?digest=${sha256("not payload")}`, { headers: RW() });
  assert.equal(wrong.status, 400);
  assert.equal(await errorCode(wrong), "DIGEST_INVALID");
  await call("DELETE", location, { headers: RW() });
  assert.deepEqual(await allKeys(), before, "nothing was stored");
});
