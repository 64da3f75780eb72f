/**
 * One gateway process: transport (uWebSockets.js or ws) + upgrade gate + HTTP routes + one {@link Session} per
 * socket + the shared speech engine (model + encoder pool). `startGateway` listens first (so /healthz answers while
 * the model loads; /readyz says `loading`), then loads the model and resolves once ready.
 *
 * Drain (SIGTERM, docs/protocol.md section 8): stop admitting (new upgrades 503 GW_ERR_SHUTTING_DOWN, /readyz 503),
 * every open session transcribes what it holds and finalises (reason `shutdown`), gets GW_ERR_SHUTTING_DOWN and
 * `session.ended`, and is closed with 1001; after `drainTimeoutMs` the rest get GW_ERR_SHUTTING_DOWN and `session.ended`
 * at once and are closed with 1001 regardless; then the encoder pool closes. `close()` is that deadline at once: every
 * session gets GW_ERR_SHUTTING_DOWN (and `session.ended` once started) and 1001 without finalising. Either way the
 * sessions count as GW_ERR_SHUTTING_DOWN, not `abandoned`.
 */
import { Gauge } from 'prom-client';
import type { WorkerExit } from '../inference/encoder-pool-options.js';
import { CLOSE_CODES, toGatewayError } from '../protocol/errors.js';
import { STREAM_PATH } from '../protocol/messages.js';
import {
  createTransport, uwsNativeAvailable,
  type Connection, type ConnectionHandler, type GateDecision, type HttpRoutes, type TransportKind,
  type TransportServer, type UpgradeGate, type UpgradeRequest,
} from '../transports/index.js';
import { AccountSessions } from './account-sessions.js';
import { extractKey, loadApiKeys, type ApiKeyGrant, type ApiKeys } from './api-keys.js';
import { validateGatewayConfig, type GatewayConfig } from './config.js';
import { BACKLOG_CAP_FACTOR } from './flow-control.js';
import { LatencyMonitor } from './latency-monitor.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, type GatewayMetrics } from './metrics.js';
import type { SessionServices } from './session-pipeline-port.js';
import { Session } from './session.js';
import { loadTlsCredentials } from './tls.js';

/** Services plus lifecycle: what the gateway needs from a loaded model (a SpeechEngine, or a test double). */
export interface GatewayServices extends SessionServices {
  stats?(): {
    batches: number; chunks: number; meanBatch: number; queueDepth: number; openStreams?: number[];
    /** Encoder workers that gave up after repeated crashes; /readyz is 503 when every worker did. */
    failedWorkers?: number;
  };
  close?(): Promise<void>;
  /** Encoder worker deaths, for the log (a SpeechEngine's); returns the unsubscribe. */
  watchWorkers?(listener: (exit: WorkerExit) => void): () => void;
}

export interface GatewayOptions {
  /** Use these services instead of loading `config.modelDir` (tests, or an engine shared with other code). */
  services?: GatewayServices;
  logger?: Logger;
}

export interface Gateway {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** The carrier actually running (uws falls back to ws when the native binary is unavailable). */
  readonly transport: TransportKind;
  /** True when uWebSockets.js runs its native binary. */
  readonly nativeBinary: boolean;
  readonly metrics: GatewayMetrics;
  /** Open sockets (started or not). */
  sessionCount(): number;
  /**
   * Re-reads the API key file (`voxgate serve` does on SIGHUP): new upgrades are checked against the new keys, open
   * sessions keep running and count under their key's account as the new file names it (a removed key's, under its
   * last one). A bad file rejects with GW_ERR_BAD_CONFIG and the old keys stay. Resolves with the number
   * of keys; 0 when the gateway runs without keys. Reloads run one at a time in call order, so the last one's file
   * decides.
   */
  reloadApiKeys(): Promise<number>;
  /** Graceful: finalise and close every session (1001), then stop. Idempotent; resolves when everything is closed. */
  drain(): Promise<void>;
  /**
   * Immediate: every session gets GW_ERR_SHUTTING_DOWN (and `session.ended` once started) and close 1001 without
   * finalising (counted as GW_ERR_SHUTTING_DOWN), then stop. Idempotent; after `drain()` it waits for the drain.
   */
  close(): Promise<void>;
}

type Phase = 'loading' | 'ready' | 'draining' | 'closed';

function json(status: number, body: unknown): { status: number; headers: Record<string, string>; body: string } {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

function pickTransport(kind: TransportKind, log: Logger): TransportKind {
  if (kind !== 'uws') return kind;
  let native = false;
  try {
    native = uwsNativeAvailable();
  } catch (e) {
    log.warn({ err: e }, 'uWebSockets.js failed to load');
  }
  if (native) return 'uws';
  log.warn('uWebSockets.js native binary unavailable on this platform/Node; using the ws transport');
  return 'ws';
}

export async function startGateway(config: GatewayConfig, options: GatewayOptions = {}): Promise<Gateway> {
  validateGatewayConfig(config);
  const log = options.logger ?? createLogger({ level: config.logLevel });
  let apiKeys: ApiKeys | null = config.apiKeysFile === null ? null : await loadApiKeys(config.apiKeysFile);
  /** The last reloadApiKeys() call, settled or not (never rejects): the next one starts after it. */
  let keyReloads: Promise<unknown> = Promise.resolve();
  const tls = config.tlsCertFile === null || config.tlsKeyFile === null ? null
    : await loadTlsCredentials(config.tlsCertFile, config.tlsKeyFile);
  // after the files: a key or certificate that fails to load must not leave the metrics' event-loop monitor running
  const metrics = createMetrics();
  const kind = pickTransport(config.transport, log);
  const sessions = new Map<Connection, Session>();
  const accounts = new AccountSessions<Connection>(config.maxSessionsPerKey);
  const latency = new LatencyMonitor();
  let phase: Phase = 'loading';
  let services: GatewayServices | undefined;

  /** Releases a socket's session and its account's count; both close reports call it (the second is a no-op). */
  const forget = (conn: Connection): void => {
    sessions.delete(conn);
    accounts.close(conn);
  };
  const handler: ConnectionHandler = {
    onOpen(conn, info) {
      const grant = info.context as ApiKeyGrant | undefined;
      if (grant !== undefined) accounts.open(conn, grant);
      try {
        const session = new Session(conn, {
          services: services!,
          limits: config,
          logger: grant === undefined ? log : log.child({ account: grant.account.id }),
          metrics,
          latency,
          onClosed: () => forget(conn),
        });
        sessions.set(conn, session);
      } catch (e) {
        log.error({ err: e }, 'cannot open session');
        conn.close(CLOSE_CODES.INTERNAL_ERROR, 'GW_ERR_INTERNAL');
      }
    },
    onMessage(conn, data, isBinary) {
      sessions.get(conn)?.handleMessage(data, isBinary);
    },
    onFrameTooLarge(conn, err) {
      sessions.get(conn)?.handleError(err);
    },
    onDrain() { /* partials are dropped while backpressured; nothing is queued server-side to refill */ },
    onPong(conn, payload) {
      sessions.get(conn)?.handlePong(payload);
    },
    onClose(conn, code, reason, origin) {
      const session = sessions.get(conn);
      forget(conn);
      session?.handleClose(code, reason, origin);
    },
  };

  const reject = (status: 401 | 429 | 503,
    code: 'GW_ERR_UNAUTHORIZED' | 'GW_ERR_KEY_SESSION_LIMIT' | 'GW_ERR_TOO_MANY_SESSIONS' | 'GW_ERR_SHUTTING_DOWN',
    message: string): GateDecision => {
    metrics.upgradesRejectedTotal.inc({ code });
    return { ok: false, status, code, message };
  };
  /** Transcripts lag past --overload-latency-ms: sessions admitted now would only slow every session down. */
  const overloadedMs = (): number | null => {
    const p90 = latency.p90(performance.now());
    return config.overloadLatencyMs > 0 && p90 > config.overloadLatencyMs ? p90 : null;
  };
  const gate: UpgradeGate = {
    authorise(req: UpgradeRequest): GateDecision {
      if (req.path !== STREAM_PATH) {
        return { ok: false, status: 404, code: 'GW_ERR_BAD_MESSAGE', message: `no WebSocket endpoint at ${req.path}` };
      }
      const grant = apiKeys?.grant(extractKey(req.headers, req.query));
      if (grant === null) return reject(401, 'GW_ERR_UNAUTHORIZED', 'missing or wrong API key');
      if (phase === 'draining' || phase === 'closed') return reject(503, 'GW_ERR_SHUTTING_DOWN', 'server is draining');
      if (phase === 'loading') return reject(503, 'GW_ERR_TOO_MANY_SESSIONS', 'model is loading; retry shortly');
      // the account's own limit first: retrying on another replica of the gateway would not lift it
      const overQuota = grant === undefined ? null : accounts.refusal(grant.account);
      if (overQuota !== null) return reject(429, 'GW_ERR_KEY_SESSION_LIMIT', overQuota);
      if (sessions.size >= config.maxSessions) {
        return reject(503, 'GW_ERR_TOO_MANY_SESSIONS', `server is at its limit of ${config.maxSessions} sessions`);
      }
      const lag = overloadedMs();
      if (lag !== null) {
        return reject(503, 'GW_ERR_TOO_MANY_SESSIONS', `server is at capacity (transcripts lag ${Math.round(lag)} ms `
          + `behind the audio, over ${config.overloadLatencyMs} ms); retry shortly`);
      }
      return { ok: true, context: grant };
    },
  };

  const routes: HttpRoutes = {
    '/healthz': () => json(200, { status: 'ok' }),
    '/readyz': () => {
      if (phase !== 'ready') return json(503, { status: phase === 'loading' ? 'loading' : 'draining' });
      // Every encoder worker gave up (repeated crashes): sessions would only get GW_ERR_INFERENCE, so stop routing.
      const st = services?.stats?.();
      const workers = st?.openStreams?.length ?? 0;
      if (workers > 0 && (st?.failedWorkers ?? 0) >= workers) return json(503, { status: 'failed', sessions: sessions.size });
      if (overloadedMs() !== null) return json(503, { status: 'overloaded', sessions: sessions.size });
      return json(200, { status: 'ready', sessions: sessions.size });
    },
    '/metrics': async () => ({
      status: 200,
      headers: { 'content-type': metrics.registry.contentType },
      body: await metrics.metricsText(),
    }),
  };

  new Gauge({
    name: 'voxgate_transcript_latency_p90_seconds',
    help: 'p90 of partial / final latency over the last 5 s (past --overload-latency-ms new sessions are refused).',
    registers: [metrics.registry],
    collect() {
      this.set(latency.p90(performance.now()) / 1000);
    },
  });
  new Gauge({
    name: 'voxgate_encoder_queue_depth',
    help: 'Encoder runs submitted but not yet sent to the worker.',
    registers: [metrics.registry],
    collect() {
      this.set(services?.stats?.().queueDepth ?? 0);
    },
  });
  new Gauge({
    name: 'voxgate_encoder_worker_streams',
    help: 'Open encoder streams (sessions) per encoder worker (--encoder-workers).',
    labelNames: ['worker'],
    registers: [metrics.registry],
    collect() {
      (services?.stats?.().openStreams ?? []).forEach((n, k) => this.set({ worker: String(k) }, n));
    },
  });

  new Gauge({
    name: 'voxgate_account_sessions',
    help: 'Open sessions per API-key account (the key file\'s name, or sha256: and 8 hex digits of the key).',
    labelNames: ['account'],
    registers: [metrics.registry],
    collect() {
      this.reset(); // accounts whose last session closed leave the series
      for (const [account, n] of accounts.entries()) this.set({ account }, n);
    },
  });
  new Gauge({
    name: 'voxgate_encoder_workers_failed',
    help: 'Encoder workers that gave up after repeated crashes (they get no new sessions).',
    registers: [metrics.registry],
    collect() {
      this.set(services?.stats?.().failedWorkers ?? 0);
    },
  });

  const transport: TransportServer = createTransport(kind, {
    maxPayloadBytes: config.maxFrameBytes,
    highWaterMarkBytes: config.outboundSoftLimitBytes,
    maxBackpressureBytes: config.outboundHardLimitBytes,
    tls,
  }, handler, gate, routes);
  let port: number;
  try {
    port = await transport.listen(config.host, config.port);
    log.info({ host: config.host, port, transport: kind, native_uws: transport.nativeBinary, tls: tls !== null },
      'listening');
    if (options.services !== undefined) {
      services = options.services;
    } else {
      const { loadSpeechEngine } = await import('./speech-engine.js');
      services = await loadSpeechEngine({
        ...config,
        // audio in flight before a client saw flow.pause may pass the hard limit (flow-control.ts); this bounds it
        maxPendingMs: BACKLOG_CAP_FACTOR * config.backlogLimitMs,
        onBatch: (rows, ms) => {
          metrics.inferenceBatchSize.observe(rows);
          metrics.encoderRunSeconds.observe(ms / 1000);
        },
      });
    }
  } catch (e) {
    // after a failed listen too: ws's keepalive timer and uWS's callbacks would hold this gateway for good
    phase = 'closed';
    await transport.close();
    metrics.stop();
    throw toGatewayError(e, 'GW_ERR_BAD_CONFIG');
  }
  phase = 'ready';
  // The crash itself, once, from the gateway: the sessions that met it log only their own errors.
  const unwatchWorkers = services.watchWorkers?.((exit) => log.error({ worker: exit.worker },
    `${exit.message}; ${exit.restarting ? 'restarting it' : 'not restarted: sessions go to the other workers, if any'}`));
  log.info({ model: services.modelName, language: services.language, model_dir: config.modelDir }, 'model loaded, ready');

  let stopping: Promise<void> | null = null;
  const stop = async (graceful: boolean): Promise<void> => {
    phase = graceful ? 'draining' : 'closed';
    // While draining the port stays open: upgrades get 503 GW_ERR_SHUTTING_DOWN and /readyz 503 (load balancers
    // see the drain); transport.close() stops listening at the end.
    if (!graceful) {
      transport.stopAccepting();
      // Told why, as at the drain's deadline, rather than only cut off by transport.close()'s 1001.
      for (const session of sessions.values()) session.shutdownNow();
    }
    if (graceful) {
      log.info({ sessions: sessions.size }, 'draining');
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          log.warn({ sessions: sessions.size }, 'drain deadline passed; closing remaining sessions');
          resolve();
        }, config.drainTimeoutMs).unref();
      });
      const shutdowns = Promise.allSettled([...sessions.values()].map((s) => s.shutdown()));
      await Promise.race([shutdowns, deadline]);
      clearTimeout(timer);
      // Told why, and how much was transcribed, rather than only cut off with 1001 (and counted as abandoned).
      for (const session of sessions.values()) {
        session.shutdownNow('server is shutting down; the drain deadline passed before this session finished '
          + '(session.ended stats.processed_audio_ms says how much was transcribed)');
      }
    }
    await transport.close();
    phase = 'closed';
    unwatchWorkers?.();
    await services?.close?.();
    metrics.stop();
    log.info('stopped');
  };

  return {
    port,
    transport: kind,
    nativeBinary: transport.nativeBinary,
    metrics,
    sessionCount: () => sessions.size,
    reloadApiKeys(): Promise<number> {
      const file = config.apiKeysFile;
      if (file === null) return Promise.resolve(0);
      // One at a time, in call order: two reads in flight may finish in either order, and a rotation's read that
      // ended after the revocation's brought the revoked key back until the next reload.
      const reload = keyReloads.then(async () => {
        apiKeys = await loadApiKeys(file); // throws before replacing: the old keys stay on error
        accounts.rebind(apiKeys); // open sessions count under their key's account as the new file names it
        log.info({ keys: apiKeys.size }, 'API keys reloaded');
        return apiKeys.size;
      });
      keyReloads = reload.catch(() => undefined);
      return reload;
    },
    drain(): Promise<void> {
      stopping ??= stop(true);
      return stopping;
    },
    close(): Promise<void> {
      stopping ??= stop(false);
      return stopping;
    },
  };
}
