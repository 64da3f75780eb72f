/**
 * The three deadlines of one session socket (docs/protocol.md section 8):
 * - start: `session.start` must arrive within `startTimeoutMs` of the upgrade. Nothing else extends it, so a socket
 *   that only pings cannot hold one of the server's `--max-sessions` slots for the whole idle allowance, again and
 *   again;
 * - idle: no binary audio and no `ping` for `idleTimeoutMs` (counted from the upgrade, re-armed by `touch`);
 * - max duration: `maxDurationMs` from `session.started`.
 *
 * Why a class of its own: the Session state machine decides when a deadline starts and ends; keeping the timer
 * handles here keeps that decision readable. All timers are unref'd (an open socket, not a timer, keeps the process
 * alive) and, once `stop` ran, nothing re-arms them: the session is ending or closed.
 */
import type { SessionLimitsConfig } from './config.js';

export interface SessionDeadlineHandlers {
  onStartTimeout: () => void;
  onIdleTimeout: () => void;
  onMaxDuration: () => void;
}

export type SessionDeadlineLimits = Pick<SessionLimitsConfig, 'startTimeoutMs' | 'idleTimeoutMs' | 'maxDurationMs'>;

export class SessionTimers {
  private startTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private maxDurationTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  /** Arms the start and idle deadlines at once: construct it when the socket opens. */
  constructor(private readonly limits: SessionDeadlineLimits, private readonly on: SessionDeadlineHandlers) {
    this.startTimer = setTimeout(on.onStartTimeout, limits.startTimeoutMs).unref();
    this.touch();
  }

  /** The session started: the start deadline is met and the maximum duration begins. */
  started(): void {
    if (this.stopped) return;
    clearTimeout(this.startTimer);
    this.maxDurationTimer = setTimeout(this.on.onMaxDuration, this.limits.maxDurationMs).unref();
  }

  /** Audio or a ping arrived (or the idle handler chose to wait longer): the idle deadline starts over. */
  touch(): void {
    clearTimeout(this.idleTimer);
    if (this.stopped) return;
    this.idleTimer = setTimeout(this.on.onIdleTimeout, this.limits.idleTimeoutMs).unref();
  }

  /** Clears every deadline for good (idempotent). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.startTimer);
    clearTimeout(this.idleTimer);
    clearTimeout(this.maxDurationTimer);
  }
}
