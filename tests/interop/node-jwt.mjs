// An independent RS256 JWT implementation on node's crypto, for interop tests.
//   node node-jwt.mjs sign PRIVATE_PEM CLAIMS_JSON [KID]   -> prints a token
//   node node-jwt.mjs verify PUBLIC_PEM TOKEN              -> exit 0 valid, 1 invalid; prints claims
import { createSign, createVerify } from "node:crypto";
import { readFileSync } from "node:fs";

const b64url = (buf) => Buffer.from(buf).toString("base64url");
const [mode, keyFile, arg, kid] = process.argv.slice(2);
const key = readFileSync(keyFile, "utf8");

if (mode === "sign") {
  const header = { alg: "RS256", typ: "JWT", ...(kid ? { kid } : {}) };
  const input = `${b64url(JSON.stringify(header))}.${b64url(arg)}`;
  const signature = createSign("RSA-SHA256").update(input).sign(key);
  console.log(`${input}.${b64url(signature)}`);
} else if (mode === "verify") {
  const [h, p, s] = arg.split(".");
  const header = JSON.parse(Buffer.from(h, "base64url"));
  const ok = header.alg === "RS256" && createVerify("RSA-SHA256").update(`${h}.${p}`).verify(key, Buffer.from(s, "base64url"));
  if (!ok) process.exit(1);
  console.log(Buffer.from(p, "base64url").toString());
} else {
  console.error("usage: node-jwt.mjs sign|verify KEY ARG");
  process.exit(2);
}
