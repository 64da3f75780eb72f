/**
 * Ctrl-C (SIGINT) and SIGTERM for the CLI's long runs (`transcribe`, `eval`): a first signal asks the run to stop
 * cleanly, a second ends the process at once.
 */
import { encoderStartsSettled } from '../inference/encoder-worker-host.js';

/** Shell convention for a process ended by a signal: 128 + the signal's number. */
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
type HandledSignal = keyof typeof SIGNAL_EXIT_CODES;

/**
 * Handles SIGINT and SIGTERM until `dispose()`. Node's default action ended the process by the signal, so the
 * utterance in progress never got its final and the server counted the session as abandoned: the first signal now
 * aborts `signal` with the signal's name as its reason (the caller ends its sessions cleanly) and a second exits at
 * once with its code (asked twice: nothing more is waited for), after `beforeExit` (what must reach the terminal:
 * `transcribe` ends its partial row).
 */
export function handleInterrupts(onFirst: (signal: HandledSignal) => void, beforeExit?: () => void):
  { signal: AbortSignal; exitCode: () => number | null; dispose: () => void } {
  const controller = new AbortController();
  let first: HandledSignal | null = null;
  const handlers = (Object.keys(SIGNAL_EXIT_CODES) as HandledSignal[]).map((name) => {
    const handler = (): void => {
      if (first !== null) {
        beforeExit?.();
        exitWhenSafe(SIGNAL_EXIT_CODES[name]);
        return;
      }
      first = name;
      controller.abort(name);
      onFirst(name);
    };
    process.on(name, handler);
    return [name, handler] as const;
  });
  return {
    signal: controller.signal,
    exitCode: () => (first === null ? null : SIGNAL_EXIT_CODES[first]),
    dispose: () => {
      for (const [name, handler] of handlers) process.off(name, handler);
    },
  };
}

/**
 * Exits with `code` as soon as no encoder worker is loading the model (a second or two at most): process.exit()
 * while one is inside ONNX Runtime's load aborted the process instead (exit 134, a C++ "terminate called" on stderr).
 */
export function exitWhenSafe(code: number): void {
  void encoderStartsSettled().then(() => process.exit(code));
}
