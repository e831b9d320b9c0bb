import { describe, expect, it } from 'vitest';
import { ReverseShellClassifier } from '../../../../src/inspect/signatures/reverse-shell.js';
import type { ClassifierReport, Detection, Direction } from '../../../../src/inspect/types.js';

type Step = [Direction, string];

function feed(steps: readonly Step[], chunking: 'whole' | 'bytes'): { state: ClassifierReport['state']; detections: Detection[] } {
  const classifier = new ReverseShellClassifier();
  let state: ClassifierReport['state'] = 'undecided';
  const detections: Detection[] = [];
  let index = 0;
  for (const [direction, text] of steps) {
    const data = Buffer.from(text, 'latin1');
    const chunks = chunking === 'whole' ? [data] : [...data].map((byte) => Buffer.from([byte]));
    for (const chunk of chunks) {
      const report = classifier.push(chunk, direction, index++);
      state = report.state;
      detections.push(...report.detections);
    }
  }
  return { state, detections };
}

/** Outputs as the shells and tools print them (captured on Debian 12 for bash and dash). */
const SHELLS: Array<[string, Step[], Direction]> = [
  ['bash -i without a TTY', [['up', 'bash: cannot set terminal process group (4242): Inappropriate ioctl for device\nbash: no job control in this shell\n']], 'up'],
  ['sh (bash) job-control warning alone', [['up', 'sh: no job control in this shell\n']], 'up'],
  ['dash -i without a TTY (/bin/sh on Debian)', [['up', "sh: 0: can't access tty; job control turned off\n# "]], 'up'],
  ['dash invoked by path', [['up', "/bin/dash: 0: can't access tty; job control turned off\n"]], 'up'],
  ['cmd.exe banner', [['up', 'Microsoft Windows [Version 10.0.19045.3803]\r\n(c) Microsoft Corporation. All rights reserved.\r\n\r\nC:\\Users\\bob>']], 'up'],
  ['old cmd.exe banner with a year', [['up', 'Microsoft Windows [Version 6.1.7601]\r\nCopyright (c) 2009 Microsoft Corporation.  All rights reserved.\r\n']], 'up'],
  ['Nishang PowerShell', [['up', 'Windows PowerShell running as user bob on WS01\nCopyright (C) 2015 Microsoft Corporation. All rights reserved.\n\nPS C:\\> ']], 'up'],
  ['Node.js REPL', [['up', 'Welcome to Node.js v20.11.0.\nType ".help" for more information.\n> ']], 'up'],
  ['`id` output after a prompt', [['up', '$ '], ['down', 'id\n'], ['up', 'uid=1000(agent) gid=1000(agent) groups=1000(agent),27(sudo)\n']], 'up'],
  ['a pty.spawn upgrade from the remote', [['down', 'python3 -c \'import pty; pty.spawn("/bin/bash")\'\n']], 'down'],
];

describe('ReverseShellClassifier', () => {
  it.each(SHELLS)('recognises %s', (_name, steps, direction) => {
    for (const chunking of ['whole', 'bytes'] as const) {
      const outcome = feed(steps, chunking);
      expect(outcome.state, chunking).toBe('identified');
      expect(outcome.detections, chunking).toEqual([expect.objectContaining({ type: 'reverse_shell', confidence: 'high', direction })]);
    }
  });

  it.each([
    ['plain text', [['up', 'hello world\n']]],
    ['a shell error that is not a job-control warning', [['up', 'sh: 1: foo: not found\n']]],
    ['a Windows banner sent by the remote', [['down', 'Microsoft Windows [Version 10.0.19045.3803]\r\n(c) Microsoft Corporation.']]],
    ['a pty.spawn sent by the agent', [['up', 'pty.spawn("/bin/sh")']]],
    ['PowerShell text that is not at the start', [['up', 'log: Windows PowerShell running as user bob\n']]],
    ['`uid=` without the rest of `id` output', [['up', 'uid=1000 gid=1000\n']]],
  ] satisfies Array<[string, Step[]]>)('does not flag %s', (_name, steps) => {
    expect(feed(steps, 'whole')).toEqual({ state: 'undecided', detections: [] });
  });

  it('looks only at the first 4 KiB the agent sends', () => {
    const late = feed([['up', 'x'.repeat(4096)], ['up', '\nbash: no job control in this shell\n']], 'whole');
    expect(late.detections).toEqual([]);
  });

  it('gives up once both windows are full', () => {
    const classifier = new ReverseShellClassifier();
    classifier.push(Buffer.alloc(4096, 0x61), 'up', 0);
    expect(classifier.push(Buffer.alloc(255, 0x62), 'down', 1).state).toBe('undecided');
    expect(classifier.push(Buffer.alloc(1, 0x62), 'down', 2).state).toBe('rejected');
    expect(classifier.push(Buffer.from('bash: no job control in this shell\n'), 'up', 3)).toEqual({ state: 'rejected', detections: [] });
  });

  it('reports once', () => {
    const classifier = new ReverseShellClassifier();
    expect(classifier.push(Buffer.from('sh: no job control in this shell\n'), 'up', 0).detections).toHaveLength(1);
    expect(classifier.push(Buffer.from('uid=0(root) gid=0(root) groups=0(root)\n'), 'up', 1)).toEqual({ state: 'identified', detections: [] });
  });
});
