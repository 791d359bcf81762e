import { FerryError } from '../../errors.js';
import type { FileAuth } from './spec.js';
import { authorizationFromEnv, manifestAuthSource, refuseClearText } from '../repo-auth.js';

/**
 * The headers a request to `url` carries for a file entry with `auth:`: the bearer token only to
 * the origin of the entry's own URL (a redirect elsewhere drops it in HttpClient.request).
 * A variable that is unset or empty stops the command, named, before anything is sent.
 */
export function fileAuthHeaders(auth: FileAuth | undefined, fileUrl: string, url: string, label: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (!auth) return {};
  if (new URL(url).origin !== new URL(fileUrl).origin) return {};
  refuseClearText(url, label, { source: manifestAuthSource(auth), plainHttpAllowed: auth.allowPlainHttp === true });
  if (!auth.bearerTokenEnv) return { authorization: authorizationFromEnv(auth, label, env) };
  const tokenEnv = auth.bearerTokenEnv;
  const token = env[tokenEnv]?.trim();
  if (!token) {
    throw new FerryError('AUTH', `${label}: auth.bearerTokenEnv names ${tokenEnv}, which is not set (or empty)`, {
      hint: `Export the token first (export ${tokenEnv}=…; for Hugging Face a read token from huggingface.co/settings/tokens), then run the command again.`,
    });
  }
  if (/[\r\n]/.test(token)) {
    throw new FerryError('AUTH', `${label}: ${tokenEnv} holds a line break; a bearer token is one line`, { hint: `Set ${tokenEnv} to the token alone.` });
  }
  return { authorization: `Bearer ${token}` };
}

/** A 401/403 for a file says how ferry sends credentials for files (or that the given token was refused). */
export function explainFileAuthError(err: unknown, auth: FileAuth | undefined): unknown {
  if (!(err instanceof FerryError) || err.code !== 'AUTH' || !/access denied \(HTTP 40[13]\)/.test(err.message)) return err;
  const hint = auth
    ? `The server refused the ${auth.bearerTokenEnv ? `token in ${auth.bearerTokenEnv}` : `user name and password in ${auth.usernameEnv} and ${auth.passwordEnv}`}: check it is current and that its account may read this file (a gated model must be accepted on its page first).`
    : 'The server wants credentials. For a bearer token (a Hugging Face token, a private model host), add auth: { bearerTokenEnv: <VARIABLE> } to this files: entry and export the token in that variable; it is sent to this URL\'s origin only, never to a host a redirect leads to.';
  return new FerryError('AUTH', err.message, { hint });
}
