import { readFile } from 'node:fs/promises';

/**
 * Where the admin token comes from, first found wins: config `admin.token_file`, config `admin.token`,
 * then the CHOKEPOINT_ADMIN_TOKEN environment variable. The admin listener does not start without
 * one, and a short token is refused (it would be guessable). The token itself never appears in a
 * message, an event or a log line.
 */

export const ADMIN_TOKEN_ENV = 'CHOKEPOINT_ADMIN_TOKEN';
export const MIN_TOKEN_LENGTH = 16;

export interface AdminTokenSources {
  token?: string;
  tokenFile?: string;
}

export type AdminTokenResult = { ok: true; token: string; source: string } | { ok: false; message: string };

export async function resolveAdminToken(sources: AdminTokenSources | undefined, env: NodeJS.ProcessEnv = process.env): Promise<AdminTokenResult> {
  let token: string | undefined;
  let source: string;
  if (sources?.tokenFile !== undefined) {
    source = `admin.token_file ${sources.tokenFile}`;
    try {
      token = (await readFile(sources.tokenFile, 'utf8')).trim();
    } catch (error) {
      const code = error instanceof Error && 'code' in error ? String(error.code) : 'unreadable';
      return { ok: false, message: `cannot read the admin token file ${sources.tokenFile} (${code})` };
    }
  } else if (sources?.token !== undefined) {
    source = 'admin.token';
    token = sources.token;
  } else {
    source = ADMIN_TOKEN_ENV;
    token = env[ADMIN_TOKEN_ENV];
  }
  if (token === undefined || token === '') {
    return { ok: false, message: `the admin listener needs a token: set admin.token_file or admin.token in the config, or ${ADMIN_TOKEN_ENV}` };
  }
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    return { ok: false, message: `the admin token from ${source} must be at least ${MIN_TOKEN_LENGTH} characters without whitespace` };
  }
  return { ok: true, token, source };
}
