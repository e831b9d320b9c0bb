import type { SshInterception } from '../../policy/types.js';

/**
 * What an intercepted SSH session may run. A rule with neither `exec` nor `subsystems` leaves the
 * session unrestricted (any exec, shell, subsystem). Naming either restricts it to what is named: an
 * sftp-only rule (`subsystems: [sftp]`) must not leave the shell open beside it. Listed commands run
 * only in a form the upstream shell cannot widen: sshd hands the command line to the user's shell, so
 * `git-upload-pack 'x'; curl …` would run both. A command is therefore its first word followed by
 * arguments that are either single-quoted (inside which nothing is special to a POSIX shell) or plain
 * words of safe characters — which is exactly what git sends (`git-upload-pack '/srv/repo.git'`).
 */

export type SessionJudgement = { ok: true } | { ok: false; reason: string };

const SAFE_WORD = /^[A-Za-z0-9._+/:@%=,-]+$/;
/**
 * No backslash inside the quotes either: POSIX sh keeps it literal there, but fish (a login shell some
 * servers use) reads `\'` as a quote inside the string, so `'x\' ';id;'` would run id.
 */
const ARGUMENT = /^(?:'[^'\\]*'|[A-Za-z0-9._+/:@%=,-]+)$/;

/** Whether the rule names what may run (exec commands, subsystems, or both). */
export function isRestricted(interception: SshInterception): boolean {
  return interception.exec !== undefined || interception.subsystems !== undefined;
}

export function judgeExec(interception: SshInterception, command: string): SessionJudgement {
  if (!isRestricted(interception)) return { ok: true };
  const allowed = interception.exec ?? [];
  const words = command.trim().split(/ +/);
  const first = words[0] ?? '';
  if (!allowed.includes(first)) {
    return { ok: false, reason: `command "${printable(first)}" is not allowed here; ${describeSessionPolicy(interception)}` };
  }
  const unsafe = words.slice(1).find((word) => !ARGUMENT.test(word));
  if (unsafe !== undefined || !SAFE_WORD.test(first)) {
    return {
      ok: false,
      reason: `the arguments of ${first} may be single-quoted strings or plain words only (shell syntax such as ${JSON.stringify(printable(unsafe ?? first))} is refused); ${describeSessionPolicy(interception)}`,
    };
  }
  return { ok: true };
}

/**
 * Environment variables an restricted session may pass upstream. sshd sets whatever its AcceptEnv
 * lets through *before* it starts the user's shell, so a variable such as BASH_ENV, ENV, LD_PRELOAD or
 * GIT_CONFIG_* would run code (or change what the allowed command does) that the allowlist never saw.
 * Only the locale (what Debian's sshd accepts by default) and git's protocol version pass, the latter
 * with a value of plain characters. Unrestricted sessions pass every variable: they may run a shell anyway.
 */
const LOCALE_NAME = /^(?:LANG|LANGUAGE|LC_[A-Z]+)$/;
const PLAIN_VALUE = /^[A-Za-z0-9=:.,_@+-]*$/;

export function judgeEnv(interception: SshInterception, name: string, value: string): SessionJudgement {
  if (!isRestricted(interception)) return { ok: true };
  if ((LOCALE_NAME.test(name) || name === 'GIT_PROTOCOL') && PLAIN_VALUE.test(value)) return { ok: true };
  return { ok: false, reason: `environment variable ${printable(name)} is not passed upstream where the session is restricted (only LANG, LC_* and GIT_PROTOCOL with plain values are)` };
}

export function judgeShell(interception: SshInterception): SessionJudgement {
  return !isRestricted(interception) ? { ok: true } : { ok: false, reason: `an interactive shell is not allowed here; ${describeSessionPolicy(interception)}` };
}

export function judgeSubsystem(interception: SshInterception, name: string): SessionJudgement {
  if (!isRestricted(interception) || interception.subsystems?.includes(name) === true) return { ok: true };
  return { ok: false, reason: `subsystem "${printable(name)}" is not allowed here; ${describeSessionPolicy(interception)}` };
}

/** One sentence for the agent: what this SSH destination lets it do. */
export function describeSessionPolicy(interception: SshInterception): string {
  if (!isRestricted(interception)) return 'allowed: sessions (exec, shell, subsystems); no port, X11 or agent forwarding';
  const exec = interception.exec?.length ? `exec of ${interception.exec.join(', ')}` : 'no exec';
  const subsystems = interception.subsystems?.length ? `; subsystems: ${interception.subsystems.join(', ')}` : '';
  return `allowed: ${exec}${subsystems}; no shell, no port, X11 or agent forwarding`;
}

/** Agent-supplied text inside our messages: printable ASCII, bounded. */
export function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}
