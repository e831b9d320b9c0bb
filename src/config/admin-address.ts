import { parseListenAddress, type ListenAddressResult } from './addresses.js';

/** Where the admin API listens when only a port is given: loopback, never every interface by accident. */
export const ADMIN_DEFAULT_HOST = '127.0.0.1';

/** `HOST:PORT` as for the other listeners, or `PORT` / `:PORT` for the loopback default host. */
export function parseAdminListenAddress(text: string): ListenAddressResult {
  const portOnly = /^:?(\d{1,5})$/.exec(text);
  return parseListenAddress(portOnly ? `${ADMIN_DEFAULT_HOST}:${portOnly[1]}` : text);
}
