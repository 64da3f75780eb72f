/**
 * `npm start` under a process manager: `docker stop`, systemd and Kubernetes send SIGTERM to the main process only,
 * which is npm. npm forwards it to its script's shell, and Debian's /bin/sh (dash) does not exec a `-c` command nor
 * pass the signal on: the shell died and the gateway ran on, orphaned, with its sessions never drained (until the
 * manager's SIGKILL). The script execs node, so npm's SIGTERM reaches the gateway.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

/** Whether a process with this pid exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm start', () => {
  it('SIGTERM to npm drains the gateway and both exit (the gateway was left running, orphaned)', async () => {
    // npm test runs under npm: its own npm; else the one on PATH
    const npm = process.env.npm_execpath !== undefined ? [process.execPath, process.env.npm_execpath] : ['npm'];
    const child = spawn(npm[0]!, [...npm.slice(1), 'start', '--silent'], { cwd: ROOT,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', VOXGATE_ENCODER_WORKERS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'] });
    const logs: Array<{ msg?: string; pid?: number }> = [];
    let pending = '';
    const seen = (msg: string): Promise<void> => new Promise((resolve, reject) => {
      const check = (): void => {
        if (logs.some((l) => l.msg === msg)) resolve();
        else if (child.exitCode !== null) reject(new Error(`npm exited before "${msg}": ${JSON.stringify(logs)}`));
        else setTimeout(check, 20);
      };
      check();
    });
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      const lines = (pending + c).split('\n');
      pending = lines.pop()!;
      for (const l of lines) if (l.startsWith('{')) logs.push(JSON.parse(l) as { msg?: string; pid?: number });
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let gatewayPid: number | undefined;
    try {
      await seen('model loaded, ready');
      gatewayPid = logs.find((l) => l.pid !== undefined)!.pid!;
      child.kill('SIGTERM');
      await exited;
      // npm is gone; the gateway must have drained and stopped on its own, not be running on without a parent
      for (let i = 0; i < 250 && alive(gatewayPid); i++) await new Promise((r) => setTimeout(r, 20));
      expect(alive(gatewayPid)).toBe(false);
      expect(logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['signal received', 'draining', 'stopped']));
    } finally {
      child.kill('SIGKILL');
      if (gatewayPid !== undefined && alive(gatewayPid)) process.kill(gatewayPid, 'SIGKILL');
    }
  }, 60_000);
});
