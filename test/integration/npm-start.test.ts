/**
 * `npm start` under a process manager: `docker stop`, systemd and Kubernetes send SIGTERM to the main process only,
 * which is npm. npm forwards it to its script's shell, and Debian's /bin/sh (dash) does not exec a `-c` command nor
 * pass the signal on: the shell died and the gateway ran on, orphaned, with its sessions never drained (until the
 * manager's SIGKILL). The script execs node, so npm's SIGTERM reaches the gateway. Ctrl-C in a terminal then reaches
 * the gateway twice (the terminal signals the whole process group, and npm forwards its copy): still one drain.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { gatewayLogs, ROOT, type GatewayLogs } from './helpers.js';

/** Whether a process with this pid exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Started extends GatewayLogs {
  child: ChildProcess;
  gatewayPid: number;
}

/** `npm start` on a free port, in a process group of its own (as a terminal's foreground job), once ready. */
async function npmStart(): Promise<Started> {
  // npm test runs under npm: its own npm; else the one on PATH
  const npm = process.env.npm_execpath !== undefined ? [process.execPath, process.env.npm_execpath] : ['npm'];
  const child = spawn(npm[0]!, [...npm.slice(1), 'start', '--silent'], { cwd: ROOT, detached: true,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', VOXGATE_ENCODER_WORKERS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'] });
  const logs = gatewayLogs(child);
  await logs.until('model loaded, ready');
  const ready = logs.lines().find((l) => l.msg === 'model loaded, ready');
  if (ready?.pid === undefined) {
    child.kill('SIGKILL');
    throw new Error(`npm start did not get ready: ${JSON.stringify(logs.lines())}`);
  }
  return { child, ...logs, gatewayPid: ready.pid };
}

/** Waits (at most 5 s) for the gateway process to be gone; whether it is. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 250 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  return !alive(pid);
}

describe('npm start', () => {
  let run: Started | undefined;
  afterEach(() => {
    if (run === undefined) return;
    try {
      process.kill(-run.child.pid!, 'SIGKILL');
    } catch { /* the group is gone */ }
    if (alive(run.gatewayPid)) process.kill(run.gatewayPid, 'SIGKILL');
    run = undefined;
  });

  it('SIGTERM to npm alone drains the gateway and both exit (the gateway was left running, orphaned)', async () => {
    run = await npmStart();
    run.child.kill('SIGTERM');
    await run.exited;
    // npm is gone; the gateway must have drained and stopped on its own, not be running on without a parent
    expect(await gone(run.gatewayPid)).toBe(true);
    expect(run.msgs()).toEqual(expect.arrayContaining(['signal received', 'draining', 'stopped']));
  }, 60_000);

  it('Ctrl-C (SIGINT to the process group) drains once: the copy npm forwards is not a second signal', async () => {
    run = await npmStart();
    process.kill(-run.child.pid!, 'SIGINT');
    expect((await run.exited).code).toBe(0);
    expect(await gone(run.gatewayPid)).toBe(true);
    const msgs = run.msgs();
    expect(msgs).toEqual(expect.arrayContaining(['signal received', 'draining', 'stopped']));
    expect(msgs).not.toContain('second signal: exiting now');
  }, 60_000);
});
