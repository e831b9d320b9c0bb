import { execFile } from 'node:child_process';

export interface CurlResult {
  /** curl's exit code (0 = transfer ok; 56/97/... for proxy failures). */
  code: number;
  /** HTTP status of the last response curl saw (from -w %{http_code}), or of the CONNECT answer. */
  status: number;
  connectStatus: number;
  body: string;
  stderr: string;
}

/** Runs the real curl with `args`; never rejects (curl's exit code is part of the result). */
export function curl(args: string[], timeoutMs = 20_000): Promise<CurlResult> {
  const marker = '\n__CURL_STATUS__';
  return new Promise((resolve) => {
    execFile(
      'curl',
      ['--silent', '--show-error', '--max-time', String(timeoutMs / 1000), '-w', `${marker}%{http_code} %{http_connect}`, ...args],
      { timeout: timeoutMs + 5_000, maxBuffer: 64 * 1024 * 1024, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
      (error, stdout, stderr) => {
        const at = stdout.lastIndexOf(marker);
        const [status = '0', connectStatus = '0'] = at >= 0 ? stdout.slice(at + marker.length).trim().split(' ') : [];
        resolve({
          code: error && typeof error.code === 'number' ? error.code : error ? -1 : 0,
          status: Number(status),
          connectStatus: Number(connectStatus),
          body: at >= 0 ? stdout.slice(0, at) : stdout,
          stderr,
        });
      },
    );
  });
}
