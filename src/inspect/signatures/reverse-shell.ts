import type { ClassifierReport, Detection, Direction, StreamClassifier } from '../types.js';
import { PrefixBuffer } from './prefix-buffer.js';

/**
 * Raw reverse shells announce themselves in their first bytes: a shell without a TTY prints its
 * job-control warning to the socket, Windows shells print their banner, `id` output goes out, and the
 * remote operator's first command is often a PTY upgrade. Anchors from the public Emerging Threats / GPL
 * rules cited in protocol-notes §1.4.5, matched in the first kilobytes of each direction.
 */

interface Signature {
  direction: Direction;
  pattern: RegExp;
  evidence: string;
}

const OUTBOUND_WINDOW = 4096;
const INBOUND_WINDOW = 256;
/**
 * A shell's banner or `id` output comes in its first exchanges. Past this many bytes in either
 * direction (a bulk upload whose peer stays silent, say) the watcher stops, so an opaque stream is not
 * inspected for its whole life.
 */
const GIVE_UP_AFTER_BYTES = 64 * 1024;

const SIGNATURES: Signature[] = [
  { direction: 'up', pattern: /(?:^|\n)(?:ba)?sh: [^\n]{0,40}no job control in this shell/, evidence: 'shell job-control warning sent to the socket (interactive shell without a TTY)' },
  { direction: 'up', pattern: /(?:^|\n)(?:ba)?sh: cannot set terminal process group/, evidence: 'bash "cannot set terminal process group" sent to the socket' },
  // dash, /bin/sh on Debian and Ubuntu images: "sh: 0: can't access tty; job control turned off".
  { direction: 'up', pattern: /(?:^|\n)[^\n]{0,40}: \d+: can't access tty; job control turned off/, evidence: 'dash job-control warning sent to the socket (interactive shell without a TTY)' },
  { direction: 'up', pattern: /Microsoft Windows \[Version [\d.]+\][\s\S]{0,64}\(c\) (?:\d{4} )?Microsoft Corp/, evidence: 'cmd.exe banner sent to the socket' },
  { direction: 'up', pattern: /^Windows PowerShell running as user /, evidence: 'PowerShell reverse-shell banner (Nishang)' },
  { direction: 'up', pattern: /^Welcome to Node\.js v\d+/, evidence: 'Node.js REPL banner sent to the socket' },
  { direction: 'up', pattern: /uid=\d+\([^)\s]{1,32}\) gid=\d+\([^)\s]{1,32}\) groups=/, evidence: '`id` output sent to the socket' },
  { direction: 'down', pattern: /pty\.spawn\(\s*["']\/bin\/(?:ba)?sh/, evidence: 'remote sent a python pty.spawn shell upgrade' },
];

export class ReverseShellClassifier implements StreamClassifier {
  readonly protocol = 'reverse-shell' as const;
  private readonly up = new PrefixBuffer(OUTBOUND_WINDOW);
  private readonly down = new PrefixBuffer(INBOUND_WINDOW);
  private state: ClassifierReport['state'] = 'undecided';
  private seen = 0;

  push(chunk: Buffer, direction: Direction, atMs: number): ClassifierReport {
    if (this.state !== 'undecided') return { state: this.state, detections: [] };
    this.seen += chunk.length;
    const buffer = direction === 'up' ? this.up : this.down;
    if (!buffer.append(chunk)) return this.giveUpWhenFull();
    const text = buffer.view().toString('latin1');
    for (const signature of SIGNATURES) {
      if (signature.direction !== direction || !signature.pattern.test(text)) continue;
      this.state = 'identified';
      const detection: Detection = { type: 'reverse_shell', confidence: 'high', evidence: signature.evidence, direction, atMs };
      return { state: 'identified', detections: [detection] };
    }
    return this.giveUpWhenFull();
  }

  private giveUpWhenFull(): ClassifierReport {
    if ((this.up.full && this.down.full) || this.seen > GIVE_UP_AFTER_BYTES) this.state = 'rejected';
    return { state: this.state, detections: [] };
  }
}
