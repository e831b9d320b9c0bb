import { spawn } from 'node:child_process';
import { binaryOf, renderStep, type Step } from './plan.js';

/**
 * Runs the steps of an install or remove plan, printing each as the shell command it stands for
 * before running it. Stops at the first failure with the command and what iptables said.
 */

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: readonly string[], input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ code: 127, stdout: '', stderr: error.code === 'ENOENT' ? `${command} not found (install iptables)` : error.message }),
    );
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr: stderr.trim() }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

export class IptablesError extends Error {}

async function must(command: string, args: readonly string[], input?: string): Promise<void> {
  const result = await run(command, args, input);
  if (result.code !== 0) {
    throw new IptablesError(`${command} ${args.join(' ')} failed (exit ${result.code}): ${result.stderr || 'no message'}`);
  }
}

async function succeeds(command: string, args: readonly string[]): Promise<boolean> {
  return (await run(command, args)).code === 0;
}

async function applyStep(step: Step): Promise<void> {
  const bin = binaryOf(step.family);
  switch (step.kind) {
    case 'restore':
      return must(`${bin}-restore`, ['--noflush'], step.text);
    case 'ensure-jump':
      if (await succeeds(bin, ['-t', step.table, '-C', step.chain, ...step.rule])) return;
      return must(bin, ['-t', step.table, '-I', step.chain, '1', ...step.rule]);
    case 'remove-jumps': {
      const listed = await run(bin, ['-t', step.table, '-S', step.chain]);
      if (listed.code !== 0) throw new IptablesError(`${bin} -t ${step.table} -S ${step.chain} failed (exit ${listed.code}): ${listed.stderr || 'no message'}`);
      for (const line of listed.stdout.split('\n')) {
        const words = line.trim().split(/\s+/);
        // Our jumps carry no quoted arguments, so splitting on blanks gives back the rule's arguments.
        if (words[0] !== '-A' || words.at(-1) !== step.target || words.at(-2) !== '-j') continue;
        if (step.keep && words.slice(2).join(' ') === step.keep.join(' ')) continue;
        await must(bin, ['-t', step.table, '-D', ...words.slice(1)]);
      }
      return;
    }
    case 'delete-chain':
      if (!(await succeeds(bin, ['-t', step.table, '-n', '-L', step.chain]))) return;
      await must(bin, ['-t', step.table, '-F', step.chain]);
      return must(bin, ['-t', step.table, '-X', step.chain]);
  }
}

export async function applySteps(steps: readonly Step[], print: (line: string) => void, dryRun: boolean): Promise<void> {
  for (const step of steps) {
    print(renderStep(step));
    if (!dryRun) await applyStep(step);
  }
}
