// chartgate inspector: renders what the engine (WebAssembly, the edge's own code) answers.
// Data is only ever written with textContent. No request carries the token.
"use strict";
(async () => {
  const $ = (id) => document.getElementById(id);
  const bytes = Uint8Array.from(atob(window.CHARTGATE_WASM), (c) => c.charCodeAt(0));
  await wasm_bindgen({ module_or_path: bytes });
  const engine = wasm_bindgen;
  const SETTINGS = [
    ["REALM", "Realm"], ["SERVICE", "Service"], ["ISSUER", "Issuer (iss)"], ["AUDIENCE", "Audience (aud)"],
    ["LEEWAY", "Leeway (s)"], ["DEPTH", "Depth (0, 1, 2)"], ["DEFAULT_NAMESPACE", "Default namespace"],
  ];
  const defaults = JSON.parse(engine.defaults());
  for (const [name, label] of SETTINGS) {
    const l = document.createElement("label");
    l.htmlFor = `set-${name}`;
    l.textContent = label;
    const i = document.createElement("input");
    i.id = `set-${name}`;
    i.value = defaults[name] ?? "";
    $("settings").append(l, i);
  }
  const show = (el, on) => { el.hidden = !on; };
  const now = () => {
    const at = $("at").value;
    return at ? Math.floor(new Date(at).getTime() / 1000) : Math.floor(Date.now() / 1000);
  };
  const fail = (message) => { $("error").textContent = message; show($("error"), true); };
  const row = (tbody, cells) => {
    const tr = document.createElement("tr");
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.append(td); }
    tbody.append(tr);
  };

  function decode() {
    show($("error"), false);
    const input = $("token").value.trim();
    if (!input) { show($("decoded"), false); return null; }
    const out = JSON.parse(engine.inspect(input));
    if (out.error) { show($("decoded"), false); fail(`Cannot decode: ${out.error}`); return null; }
    $("found").textContent = `Token found in: ${out.via}`;
    $("header").textContent = JSON.stringify(out.header, null, 2);
    $("claims").textContent = JSON.stringify(out.claims, null, 2);
    const times = $("times").tBodies[0];
    times.replaceChildren();
    for (const name of ["iat", "nbf", "exp"]) {
      const v = out.claims[name];
      if (typeof v !== "number") continue;
      const d = new Date(v * 1000);
      row(times, [name, d.toLocaleString(), d.toISOString().replace(".000", ""), engine.relative(v, now())]);
    }
    const access = $("access").tBodies[0];
    access.replaceChildren();
    for (const r of out.access?.rows ?? []) row(access, [r.type, r.repo, r.actions]);
    show($("paths"), Boolean(out.access?.paths));
    if (out.access?.paths) $("paths").textContent = `Bound to paths: ${out.access.paths.join(", ")}`;
    const refused = out.refused_before_signature ?? out.claims_error;
    show($("refused"), Boolean(refused));
    if (refused) $("refused").textContent = `The edge refuses this token: ${refused.reason}: ${refused.error_description}`;
    // A URL input also tells which request to decide.
    const m = input.match(/^https?:\/\/[^/]+(\/[^?#\s]*)/);
    if (m && $("request").dataset.touched !== "1") $("request").value = `GET ${m[1]}`;
    show($("decoded"), true);
    return out;
  }

  async function check() {
    if (!decode()) return;
    const trust = $("trust").value.trim();
    if (!$("keys").value.trim() && !trust) { fail("Paste a public key (PEM, JWK or JWKS) or fetch a JWKS URL to verify."); return; }
    const settings = Object.fromEntries(SETTINGS.map(([n]) => [n, $(`set-${n}`).value]));
    if (trust) settings.TRUST_POLICIES = trust;
    const out = JSON.parse(await engine.check($("token").value, $("keys").value, JSON.stringify(settings), $("request").value, now()));
    if (out.error) { show($("verdict"), false); fail(out.error); return; }
    const sig = out.signature;
    $("signature").className = sig.valid ? "ok" : "bad";
    $("signature").textContent = !sig.checked ? "signature not checked: the request is refused before it"
      : sig.valid ? `✔ signature valid (key ${sig.kid})` : `✘ signature invalid: ${sig.reason}: ${sig.error_description}`;
    show($("trusted"), Boolean(sig.trusted));
    $("trusted").textContent = sig.trusted
      ? `Workload token of ${sig.trusted.issuer}: trust policy "${sig.trusted.policy}", rule "${sig.trusted.rule}" grants ${sig.trusted.grants}`
      : "";
    // The engine's warnings about the policies (the same `chartgate verify --trust` prints).
    const warnings = out.warnings ?? [];
    $("trust-warnings").replaceChildren(...warnings.map((w) => {
      const li = document.createElement("li");
      li.textContent = `⚠ warning: ${w}`;
      return li;
    }));
    show($("trust-warnings"), warnings.length > 0);
    const d = out.decision;
    $("decision").className = d.allowed ? "ok" : "bad";
    $("decision").textContent = d.allowed
      ? `✔ the edge would allow ${$("request").value}${d.scope ? ` (needs ${d.scope})` : ""}`
      : `✘ the edge would deny ${$("request").value}: ${d.status} ${d.reason}: ${d.error_description}`;
    show($("challenge"), Boolean(d.www_authenticate));
    $("challenge").textContent = d.www_authenticate ? `WWW-Authenticate: ${d.www_authenticate}` : "";
    show($("verdict"), true);
  }

  async function fetchJwks() {
    show($("error"), false);
    const url = $("jwks-url").value.trim();
    if (!/^https?:\/\//.test(url)) { fail("Type an http(s) JWKS URL."); return; }
    try {
      const res = await fetch(url, { credentials: "omit", referrerPolicy: "no-referrer", cache: "no-store" });
      if (!res.ok) throw new Error(`the server answered ${res.status}`);
      $("keys").value = await res.text();
      await check();
    } catch (e) {
      fail(`JWKS fetch failed: ${e.message}`);
    }
  }

  $("token").addEventListener("input", decode);
  $("request").addEventListener("input", () => { $("request").dataset.touched = "1"; });
  $("check").addEventListener("click", check);
  $("fetch-jwks").addEventListener("click", fetchJwks);
  document.body.dataset.ready = "1";
})().catch((e) => {
  const el = document.getElementById("error");
  el.textContent = `The inspector failed to start: ${e.message}`;
  el.hidden = false;
});
