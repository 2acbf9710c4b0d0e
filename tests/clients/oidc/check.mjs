// The server against a real OpenID provider installed from npm (panva's oidc-provider, certified):
// the provider issues RFC 9068 JWT access tokens (ES256, typ at+jwt) for the API's audience by
// the client credentials grant; the server, started with AUTH_ISSUER alone (discovery),
// AUTH_AUDIENCE and AUTH_TOKEN_TYPES=at+jwt, finds the keys through the discovery document and
// lets the token's caller register and read themself; a token for another audience and a
// non-JWT are refused with reasons that say so.
//
//   TASK_API_BIN=target/debug/task-api node tests/clients/oidc/check.mjs
import Provider from "oidc-provider";
import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";
import { createInterface } from "node:readline";

const audience = "urn:task-api";
const secret = `client-secret-${Math.random()}`;
const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" });

// The issuer is the listener's URL, so the listener comes first and the provider serves on it.
const listener = createServer();
listener.listen(0, "127.0.0.1");
await once(listener, "listening");
const issuer = `http://127.0.0.1:${listener.address().port}`;
const op = new Provider(issuer, {
  clients: [
    {
      client_id: "task-api-client",
      client_secret: secret,
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
      id_token_signed_response_alg: "ES256",
    },
  ],
  jwks: { keys: [{ ...key, kid: "ec-1", alg: "ES256", use: "sig" }] },
  features: {
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      getResourceServerInfo: (_, resource) => ({
        audience: resource,
        scope: "tasks",
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "ES256" } },
      }),
    },
  },
});
listener.on("request", op.callback());

const server = spawn(process.env.TASK_API_BIN ?? "target/debug/task-api", [], {
  env: {
    PATH: process.env.PATH,
    DATABASE_URL: "sqlite::memory:",
    PORT: "0",
    AUTH_ISSUER: issuer,
    AUTH_AUDIENCE: audience,
    AUTH_TOKEN_TYPES: "at+jwt",
    LOG: "info",
    LOG_FORMAT: "json",
  },
  stdio: ["ignore", "ignore", "pipe"],
});
let base;
for await (const line of createInterface({ input: server.stderr })) {
  const found = /listening on (http:\/\/\S+)/.exec(line);
  if (found) {
    base = found[1];
    break;
  }
}
if (!base) throw new Error("the server did not start");

let checks = 0;
function check(condition, what) {
  if (!condition) throw new Error(`FAILED: ${what}`);
  checks += 1;
  console.log(`ok  ${what}`);
}
async function token(resource) {
  const response = await fetch(`${issuer}/token`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`task-api-client:${secret}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: "tasks", resource }),
  });
  return (await response.json()).access_token;
}
const call = (method, path, bearer) =>
  fetch(`${base}${path}`, { method, headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });

try {
  const access = await token(audience);
  const header = JSON.parse(Buffer.from(access.split(".")[0], "base64url"));
  check(header.typ === "at+jwt" && header.alg === "ES256", "the provider issues an ES256 at+jwt access token");
  check((await call("GET", "/ready")).status === 200, "the server found the keys by discovery: /ready 200");
  check((await call("GET", "/me", access)).status === 404, "GET /me with the token -> 404 (not registered yet)");
  const registered = await call("POST", "/users", access);
  check(registered.status === 201, "POST /users with the token -> 201");
  const me = await (await call("GET", "/me", access)).json();
  check(me.id === (await registered.json()).id, "GET /me -> the registered caller");
  const other = await call("GET", "/me", await token("urn:another-api"));
  check(
    other.status === 401 && other.headers.get("www-authenticate").includes(`which does not include ${audience}`),
    "a token for another audience -> 401 naming the audience expected",
  );
  const opaque = await call("GET", "/me", "an-opaque-access-token");
  check(
    opaque.status === 401 && opaque.headers.get("www-authenticate").includes("ask the provider for a JWT"),
    "an opaque token -> 401 with the hint to ask for a JWT",
  );
  console.log(`oidc-provider: ${checks} checks passed`);
} finally {
  server.kill();
  listener.close();
}
