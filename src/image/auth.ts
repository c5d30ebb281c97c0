/**
 * Registry authentication (distribution's token auth): a request answered 401 carries a
 * WWW-Authenticate challenge. "Basic" means: send the credentials. "Bearer realm=…,service=…,scope=…"
 * means: get a token from the realm for that service and scope (with the credentials as Basic auth
 * if there are any, else anonymously), then repeat the request with "Authorization: Bearer <token>".
 * With an identity token (an OAuth2 refresh token from a credential helper or an auths entry's
 * "identitytoken"), the token is asked for by POSTing a form to the realm (distribution's
 * docs/spec/auth/oauth.md): grant_type=refresh_token, refresh_token, service, scope, client_id.
 */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a WWW-Authenticate header: one or more challenges, each a scheme followed by
 * comma-separated key=value or key="quoted value" parameters (RFC 7235). Pure.
 */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = () => {
    while (i < n && (header[i] === " " || header[i] === "\t")) i++;
  };
  const token = () => {
    const start = i;
    while (i < n && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(header[i] as string)) i++;
    return header.slice(start, i);
  };
  while (i < n) {
    skipSpace();
    while (i < n && header[i] === ",") {
      i++;
      skipSpace();
    }
    const scheme = token();
    if (!scheme) {
      i++;
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    for (;;) {
      skipSpace();
      const save = i;
      const key = token();
      skipSpace();
      if (!key || header[i] !== "=") {
        i = save;
        break;
      }
      i++;
      skipSpace();
      let value = "";
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === "\\" && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        // Leniently, an unquoted value runs to the next comma or space (some servers send URLs unquoted).
        const start = i;
        while (i < n && header[i] !== "," && header[i] !== " " && header[i] !== "\t") i++;
        value = header.slice(start, i);
      }
      challenge.params[key.toLowerCase()] = value;
      skipSpace();
      if (header[i] === ",") {
        i++;
        continue;
      }
      break;
    }
  }
  return out;
}

export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

/** The URL to ask a token from, for a Bearer challenge and the scopes cm needs. Pure. */
export function tokenUrl(challenge: Challenge, scopes: string[]): URL {
  const url = new URL(challenge.params.realm as string);
  if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
  const wanted = new Set([...(challenge.params.scope ? challenge.params.scope.split(" ") : []), ...scopes]);
  for (const s of wanted) if (s) url.searchParams.append("scope", s);
  return url;
}

/** The client_id cm names itself with in OAuth2 token requests. */
export const OAUTH_CLIENT_ID = "cm";

/**
 * The form body of an OAuth2 refresh-token request for a Bearer challenge and the scopes cm needs
 * (POSTed to the realm, as application/x-www-form-urlencoded). Pure.
 */
export function refreshTokenForm(challenge: Challenge, scopes: string[], refreshToken: string): URLSearchParams {
  const form = new URLSearchParams();
  form.set("grant_type", "refresh_token");
  form.set("refresh_token", refreshToken);
  form.set("client_id", OAUTH_CLIENT_ID);
  if (challenge.params.service) form.set("service", challenge.params.service);
  const wanted = new Set([...(challenge.params.scope ? challenge.params.scope.split(" ") : []), ...scopes].filter(Boolean));
  if (wanted.size) form.set("scope", [...wanted].join(" "));
  return form;
}

/** The token from a token endpoint's JSON answer ("token" or the OAuth2 "access_token"). */
export function tokenFrom(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const b = body as { token?: unknown; access_token?: unknown };
  if (typeof b.token === "string" && b.token) return b.token;
  if (typeof b.access_token === "string" && b.access_token) return b.access_token;
  return undefined;
}
