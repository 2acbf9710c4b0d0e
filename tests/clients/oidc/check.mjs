// The server against a real OpenID provider installed from npm (panva's oidc-provider, certified):
// the provider issues RFC 9068 JWT access tokens (ES256, typ at+jwt) for the API's audience by
// the client credentials grant; the server, started with AUTH_ISSUER alone (discovery),
// AUTH_AUDIENCE and AUTH_TOKEN_TYPES=at+jwt, finds the keys through the discovery document and
// lets the token's caller register and read themself; a token for another audience and a
// non-JWT are refused with reasons that say so.
//
//   TASK_API_BIN=target/debug/task-api node tests/clients/oidc/check.mjs
import { audience, checker, startProvider, startTaskApi } from "./provider.mjs";

const secret = `client-secret-${Math.random()}`;
const { issuer, listener } = await startProvider({
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
  features: { clientCredentials: { enabled: true } },
});
const { base, stop } = await startTaskApi(issuer);

const check = checker();
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
  console.log(`oidc-provider: ${check.passed} checks passed`);
} finally {
  stop();
  listener.close();
}
