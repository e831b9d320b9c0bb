/**
 * External tools the bench needs (squid, wrk): use them when present, install the Debian package when not,
 * so a fresh CI machine can run `npm run bench` unattended.
 */
import { runCommand } from './spawn.js';

const APT_TIMEOUT_MS = 300_000;

export async function hasCommand(command: string): Promise<boolean> {
  try {
    await runCommand('sh', ['-c', `command -v "$1"`, 'sh', command], 5_000);
    return true;
  } catch {
    return false;
  }
}

/** apt-get as root directly, otherwise through non-interactive sudo (fails fast if a password is needed). */
function apt(args: string[]): Promise<string> {
  // Through `env` rather than extraEnv: sudo would reset the environment.
  const aptCommand = ['DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args];
  return process.getuid?.() === 0
    ? runCommand('env', aptCommand, APT_TIMEOUT_MS)
    : runCommand('sudo', ['-n', 'env', ...aptCommand], APT_TIMEOUT_MS);
}

export type ToolStatus = { available: true; installedNow: boolean } | { available: false; reason: string };

/**
 * Makes `command` available by installing Debian package `debianPackage` if needed. A first install
 * attempt uses the existing package lists; only if that fails do we run `apt-get update` and retry.
 */
export async function ensureTool(command: string, debianPackage: string): Promise<ToolStatus> {
  if (await hasCommand(command)) return { available: true, installedNow: false };
  process.stderr.write(`bench: ${command} not found, installing Debian package ${debianPackage}...\n`);
  try {
    await apt(['install', '-y', debianPackage]);
  } catch {
    try {
      await apt(['update']);
      await apt(['install', '-y', debianPackage]);
    } catch (error) {
      return { available: false, reason: `apt-get install ${debianPackage} failed: ${String(error)}` };
    }
  }
  return (await hasCommand(command))
    ? { available: true, installedNow: true }
    : { available: false, reason: `${debianPackage} installed but ${command} is not on PATH` };
}
