// An organisation's OpenID provider for `chartgate login`: npm's `oidc-provider` (a certified
// implementation), on loopback, with the device flow (RFC 8628), refresh tokens, revocation
// (RFC 7009) and its development sign-in pages, which headless Chromium fills in as a person
// would. Nothing here decides anything for chartgate; it only plays the provider.
import { createServer } from "node:http";
import Provider from "oidc-provider";
import { chromium } from "playwright-core";

export const CLIENT_ID = "chartgate-cli";

/**
 * Starts the provider: `{issuer, ttl, close, stop, restart}`. `idTokenTtl` and `deviceCodeTtl` are
 * in seconds (`ttl.idToken`, `ttl.deviceCode` change them later); `stop()` closes the port (the
 * provider is down) and `restart()` opens it again.
 */
export async function startSso({ idTokenTtl = 600, deviceCodeTtl = 600 } = {}) {
  const ttl = { idToken: idTokenTtl, deviceCode: deviceCodeTtl };
  // The port first: the issuer identifier must be the URL the provider is reached at.
  const probe = createServer();
  await new Promise((r) => probe.listen(0, "127.0.0.1", r));
  const port = probe.address().port;
  await new Promise((r) => probe.close(r));
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        token_endpoint_auth_method: "none",
        grant_types: ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
        response_types: [],
        redirect_uris: [],
      },
    ],
    features: {
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      devInteractions: { enabled: true },
    },
    scopes: ["openid", "offline_access", "email"],
    claims: { openid: ["sub"], email: ["email", "email_verified"] },
    conformIdTokenClaims: false,
    findAccount: async (_ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: id, email: `${id}@example.com`, email_verified: true }),
    }),
    // Functions, so a test can shorten them while the provider runs.
    ttl: {
      IdToken: () => ttl.idToken,
      AccessToken: () => ttl.idToken,
      DeviceCode: () => ttl.deviceCode,
      RefreshToken: 86400,
      Grant: 86400,
      Session: 86400,
      Interaction: 600,
    },
  });
  provider.on("server_error", (_ctx, err) => console.error("oidc-provider:", err));
  let server;
  const listen = () =>
    new Promise((r) => {
      server = provider.listen(port, "127.0.0.1", r);
    });
  await listen();
  const state = {
    issuer,
    ttl,
    provider,
    stop: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
    restart: listen,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
  return state;
}

let browser;

/** The shared headless Chromium. */
export async function browserPage() {
  browser ??= await chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
  const context = await browser.newContext();
  return context.newPage();
}

export async function closeBrowser() {
  await browser?.close();
  browser = undefined;
}

/**
 * The person's side of the device flow, in Chromium: opens `url` (the verification URI,
 * complete with the code), confirms the code, signs in as `user`, and approves (or aborts when
 * `approve` is false). Resolves to the final page's text.
 */
export async function approveDevice(url, { user = "alice", approve = true } = {}) {
  const page = await browserPage();
  try {
    await page.goto(url);
    if (!approve) {
      await page.click("button[name=abort]");
      return await page.textContent("body");
    }
    await page.click("button[type=submit]:not([name=abort])");
    await page.waitForSelector("input[name=login]");
    await page.fill("input[name=login]", user);
    await page.fill("input[name=password]", "any");
    await page.click("button[type=submit]");
    // Consent (offline_access, email), then the provider's success page.
    await page.waitForSelector("button[type=submit]");
    await page.click("button[type=submit]");
    await page.waitForFunction(() => /success/i.test(document.body.innerText), null, { timeout: 15000 });
    return await page.textContent("body");
  } finally {
    await page.context().close();
  }
}
