// A single-page app as a front end writes one: it signs in at the OpenID provider by the
// authorization code flow with PKCE (S256), asking for an access token for the Task API's
// audience (resource indicator), then calls the Task API from its own origin (CORS): GET /me
// (404 until registered), POST /users, GET /me, create a task and list the tasks. Every step
// goes to #log; #outcome ends as "PASS" or "FAIL: <why>". The settings come from /config.json
// (issuer, client_id, audience, api).
const logLine = (line) => (document.getElementById("log").textContent += `${line}\n`);
const base64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const randomText = () => base64url(crypto.getRandomValues(new Uint8Array(32)));

async function json(response, what) {
  if (!response.ok) throw new Error(`${what} answered ${response.status}: ${await response.text()}`);
  return response.json();
}

// Sends the browser to the provider's authorization endpoint, keeping the verifier and state.
async function signIn(config, provider, redirectUri) {
  const verifier = randomText();
  const state = randomText();
  sessionStorage.setItem("pkce", JSON.stringify({ verifier, state }));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const authorize = new URL(provider.authorization_endpoint);
  authorize.search = new URLSearchParams({
    client_id: config.client_id,
    response_type: "code",
    redirect_uri: redirectUri,
    scope: "openid tasks",
    resource: config.audience,
    code_challenge: base64url(new Uint8Array(digest)),
    code_challenge_method: "S256",
    state,
  });
  location.assign(authorize);
}

// Back from the provider with a code: the access token, by the code and the verifier.
async function accessToken(config, provider, redirectUri, answer) {
  const { verifier, state } = JSON.parse(sessionStorage.getItem("pkce") ?? "{}");
  sessionStorage.removeItem("pkce");
  if (answer.get("error")) throw new Error(`the provider answered ${answer.get("error")}: ${answer.get("error_description")}`);
  if (!verifier || answer.get("state") !== state) throw new Error("the provider's answer has another state");
  history.replaceState(null, "", "/");
  const tokens = await json(
    await fetch(provider.token_endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: answer.get("code"),
        redirect_uri: redirectUri,
        client_id: config.client_id,
        code_verifier: verifier,
        resource: config.audience,
      }),
    }),
    "the token endpoint",
  );
  logLine(`sign-in: an access token (${tokens.token_type}) for ${config.audience}`);
  return tokens.access_token;
}

// One call to the Task API with the token; a status other than `expected` stops the session.
async function call(config, token, method, path, expected, body) {
  const headers = { authorization: `Bearer ${token}` };
  if (body) headers["content-type"] = "application/json";
  const response = await fetch(`${config.api}${path}`, { method, headers, body: body && JSON.stringify(body) });
  logLine(`${method} ${path} -> ${response.status}`);
  if (response.status !== expected) {
    throw new Error(`${method} ${path} answered ${response.status}, expected ${expected}: ${await response.text()}`);
  }
  return response;
}

async function session(config, token) {
  await call(config, token, "GET", "/me", 404);
  const user = await (await call(config, token, "POST", "/users", 201)).json();
  logLine(`registered as ${user.id}`);
  const me = await (await call(config, token, "GET", "/me", 200)).json();
  if (me.id !== user.id) throw new Error(`GET /me is ${me.id}, not the registered ${user.id}`);
  const created = await call(config, token, "POST", `/users/${user.id}/tasks`, 201, { title: "Sign in with PKCE" });
  const task = await created.json();
  const location = created.headers.get("location");
  if (!location?.endsWith(`/users/${user.id}/tasks/${task.id}`)) {
    throw new Error(`the created task's Location is ${location}, not its URL (is Location exposed by CORS?)`);
  }
  const page = await (await call(config, token, "GET", `/users/${user.id}/tasks`, 200)).json();
  if (!page.items.some((listed) => listed.id === task.id)) throw new Error("the created task is not listed");
  logLine(`task ${task.id} created and listed`);
}

async function main() {
  const config = await json(await fetch("/config.json"), "/config.json");
  const provider = await json(
    await fetch(`${config.issuer}/.well-known/openid-configuration`),
    "the provider's discovery document",
  );
  const redirectUri = `${location.origin}/`;
  const answer = new URLSearchParams(location.search);
  if (!answer.has("code") && !answer.has("error")) return signIn(config, provider, redirectUri);
  await session(config, await accessToken(config, provider, redirectUri, answer));
  document.getElementById("outcome").textContent = "PASS";
}

main().catch((error) => {
  logLine(`FAIL: ${error.message}`);
  document.getElementById("outcome").textContent = `FAIL: ${error.message}`;
});
