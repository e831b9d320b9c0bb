/** The facts about the machine and tools that make a results file comparable with another one. */
import { execFile } from 'node:child_process';
import os from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  squid: string | null;
  /** 1-minute load average when the run started: other work on the machine makes figures noisy. */
  loadAverageAtStart: number;
}

/**
 * First line a command prints for its version flag, or null if it cannot run. Some tools (wrk -v) exit
 * non-zero after printing their version, so the exit code is ignored when there is output.
 */
export function commandVersion(command: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 5_000 }, (_error, stdout, stderr) => {
      const line = `${stdout}${stderr}`.trim().split('\n')[0]?.trim() ?? '';
      resolve(line === '' ? null : line);
    });
  });
}

export async function describeMachine(loadAverageAtStart: number): Promise<MachineInfo> {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    squid: await commandVersion('squid', ['-v']),
    loadAverageAtStart,
  };
}
