// Bundles the inspector into one self-contained HTML file (works from file://, any static server,
// and wrangler assets): wasm-bindgen glue, the wasm as base64, app.js and style.css inlined, with a
// Content-Security-Policy that allows exactly these inline scripts and style by hash.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const www = import.meta.dirname;
const read = (p) => readFileSync(join(www, p));
const wasm = read("pkg/chartgate_bg.wasm");
const scripts = [read("pkg/chartgate.js").toString(), `window.CHARTGATE_WASM = "${wasm.toString("base64")}";`, read("app.js").toString()];
const style = read("style.css").toString();
const hash = (s) => `'sha256-${createHash("sha256").update(s).digest("base64")}'`;
const csp = [
  "default-src 'none'",
  `script-src ${scripts.map(hash).join(" ")} 'wasm-unsafe-eval'`,
  `style-src ${hash(style)}`,
  // The one request the page makes: the JWKS URL the user types.
  "connect-src https: http://127.0.0.1:* http://localhost:*",
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");
const html = read("index.html")
  .toString()
  .replace("__CSP__", csp)
  .replace("__STYLE__", () => style)
  .replace("__SCRIPTS__", () => scripts.map((s) => `<script>${s}</script>`).join("\n"));
const out = join(www, "dist/_chartgate/inspect");
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "index.html"), html);
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`inspector: www/dist/_chartgate/inspect/index.html ${kb(html.length)} (gzip ${kb(gzipSync(html).length)}); wasm ${kb(wasm.length)} (gzip ${kb(gzipSync(wasm).length)})`);
