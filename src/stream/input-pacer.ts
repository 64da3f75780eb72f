/**
 * InputPacer: runs a session's inputs (audio slices, control, setting changes) in order, at most one audio slice per
 * event-loop turn once anything waits.
 *
 * Why: the DSP stages run synchronously on the main thread, and one binary frame may carry up to 1 MiB, which is
 * 131 s of 8 kHz mu-law. Run at once, such a frame blocked every other session's I/O for 0.55 s (0.72 s with
 * `denoise: spectral`; `npm run bench:large-frame`, docs/benchmarks.md). SessionPipeline cuts large frames into
 * slices; the first runs at once, the rest here, one per `setImmediate`, so other sockets are served between
 * slices. Whatever arrives while slices wait (more audio, finalize, end, endpointing changes) queues
 * behind them, so the pipeline sees exactly the order in which the client sent it. Frames of ordinary size (20-100 ms)
 * never wait: with nothing queued, `submit` runs them at once, as before.
 */

interface Job {
  run: () => void;
  /** Source sample frames the job feeds (0 for control); counted as unprocessed audio while queued. */
  samples: number;
}

export class InputPacer {
  #jobs: Job[] = [];
  #head = 0;
  #queuedSamples = 0;
  #scheduled: NodeJS.Immediate | undefined;
  /** clear() calls so far: submit sees whether the job it ran cleared the pacer. */
  #clears = 0;

  /** `onError`: what a job threw (the pacer stops; the owner fails the session). */
  constructor(private readonly onError: (e: unknown) => void) {}

  /** Source sample frames waiting in the queue, or dropped from it by clear(): never run through the DSP stages. */
  get queuedSamples(): number {
    return this.#queuedSamples;
  }

  /**
   * Runs `jobs[0]` now if nothing waits, then queues the rest (all of them if something waits). Jobs run in
   * submission order; an audio job (samples > 0) ends its event-loop turn.
   */
  submit(jobs: readonly Job[]): void {
    let k = 0;
    if (this.#head === this.#jobs.length && jobs.length > 0) {
      k = 1;
      const clears = this.#clears;
      this.#runJob(jobs[0]!);
      if (this.#clears !== clears) {
        // It threw, or its events ended the session (a handler called clear(): a slow client's socket given up):
        // the rest of its frame is dropped like the queue, never run, its audio still unprocessed.
        for (; k < jobs.length; k++) this.#queuedSamples += jobs[k]!.samples;
        return;
      }
    }
    for (; k < jobs.length; k++) {
      this.#jobs.push(jobs[k]!);
      this.#queuedSamples += jobs[k]!.samples;
    }
    this.#schedule();
  }

  /**
   * Drops every waiting job (the session failed or was abandoned). Their samples stay in `queuedSamples`: that audio
   * was received and never transcribed, and the session's processed_audio_ms must not claim it.
   */
  clear(): void {
    this.#clears++;
    clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    this.#jobs = [];
    this.#head = 0;
  }

  #schedule(): void {
    if (this.#scheduled === undefined && this.#head < this.#jobs.length) {
      this.#scheduled = setImmediate(() => this.#drain());
    }
  }

  #drain(): void {
    this.#scheduled = undefined;
    while (this.#head < this.#jobs.length) {
      const job = this.#jobs[this.#head]!;
      this.#jobs[this.#head++] = undefined as unknown as Job; // release the slice for GC
      this.#queuedSamples -= job.samples;
      if (!this.#runJob(job)) return;
      if (job.samples > 0) break;
    }
    if (this.#head === this.#jobs.length) {
      this.#jobs = [];
      this.#head = 0;
    }
    this.#schedule();
  }

  /** False when the job threw: the queue is cleared and the owner told. */
  #runJob(job: Job): boolean {
    try {
      job.run();
      return true;
    } catch (e) {
      this.clear();
      this.onError(e);
      return false;
    }
  }
}
