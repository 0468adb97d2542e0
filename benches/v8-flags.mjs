// Loaded with `node --import ./benches/v8-flags.mjs`: passes the V8 flags in $CHARTGATE_V8_FLAGS
// (space-separated) to the workerd that miniflare starts, through workerd's own `v8Flags` config
// field, which miniflare does not expose. Benchmarks only: `--trace-wasm-compilation-times` makes
// V8 print each wasm function it compiles, which is how benches/edge.mjs attributes a cold start.
import { register } from "node:module";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

if (process.env.CHARTGATE_V8_FLAGS) {
  register("./v8-flags.mjs", import.meta.url);
}

/** The module-loader hook: miniflare's config encoder, with the flags added to the config. */
export async function load(url, context, next) {
  const result = await next(url, context);
  if (!/\/miniflare\/dist\/src\/index\.js$/.test(url)) return result;
  // CommonJS comes without its source from the default loader: read it here.
  const source = String(result.source ?? (await readFile(fileURLToPath(url), "utf8")));
  const anchor = "const struct = message.initRoot(Config);";
  if (!source.includes(anchor)) throw new Error("benches/v8-flags.mjs: miniflare's config encoder has changed");
  const flags = JSON.stringify(process.env.CHARTGATE_V8_FLAGS.split(" ").filter(Boolean));
  return { ...result, source: source.replace(anchor, `config.v8Flags = ${flags};\n  ${anchor}`) };
}
