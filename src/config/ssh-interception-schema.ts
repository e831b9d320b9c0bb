/**
 * The `ssh:` mapping of an `intercept: ssh` rule. The rule names a key *file*, never a key: rules are
 * read by reviewers and reloaded from ConfigMaps, key material is not. The upstream host key must be
 * pinned (no trust on first use): an interception that learns the key from the first answer would let
 * whoever answers first, or an attacker on the path, receive the proxy's login.
 */
import { z } from 'zod';
import type { SshInterception } from '../policy/types.js';

/** OpenSSH's `ssh-keygen -lf` spelling: "SHA256:" and 43 base64 characters (the "=" padding optional). */
const HOST_KEY_PATTERN = /^SHA256:[A-Za-z0-9+/]{43}=?$/;

/** A relative path inside the certs directory: no absolute path, no "..", no empty segment. */
const keyPathSchema = z
  .string()
  .min(1, 'key is empty')
  .max(255, 'key is longer than 255 characters')
  .refine((file) => !file.startsWith('/') && file.split('/').every((part) => part !== '' && part !== '.' && part !== '..'), {
    message: 'key is a file name relative to the certs directory (e.g. ssh/git-internal), without "..", "." or a leading "/"',
  });

/** One command name (the first word of an exec request), e.g. git-upload-pack or /usr/bin/rsync. */
const commandWordSchema = z
  .string()
  .regex(/^[A-Za-z0-9._+/-]+$/, 'a command is one word: letters, digits, ".", "_", "+", "/" and "-"');

export const sshInterceptionSchema = z.strictObject({
  user: z
    .string()
    .min(1, 'user is empty')
    .max(255, 'user is longer than 255 characters')
    .regex(/^[^\s:@]+$/, 'user may not contain whitespace, ":" or "@"'),
  key: keyPathSchema,
  host_key_sha256: z
    .string()
    .regex(HOST_KEY_PATTERN, 'host_key_sha256 is the upstream host key fingerprint as ssh-keygen -lf prints it: "SHA256:" and 43 base64 characters')
    .transform((text) => text.replace(/=$/, '')),
  exec: z.array(commandWordSchema).min(1, 'lists no commands; omit exec to allow any').optional(),
  subsystems: z.array(commandWordSchema).optional(),
});

export type ParsedSshInterception = z.output<typeof sshInterceptionSchema>;

export function interceptionOf(parsed: ParsedSshInterception): SshInterception {
  return {
    kind: 'ssh',
    user: parsed.user,
    key: parsed.key,
    hostKeySha256: parsed.host_key_sha256,
    ...(parsed.exec !== undefined && { exec: parsed.exec }),
    ...(parsed.subsystems !== undefined && { subsystems: parsed.subsystems }),
  };
}
