/**
 * One uWebSockets.js WebSocket as a {@link BaseConnection} (uws-server.ts creates them), and how uWS's own closes
 * read as close codes and origins.
 */
import { randomUUID } from 'node:crypto';
import type * as UWS from 'uWebSockets.js';
import { CLOSE_CODES } from '../protocol/errors.js';
import { BaseConnection } from './base-connection.js';
import type { ConnectionHandler, TransportOptions, UpgradeInfo } from './transport.js';

/**
 * The closes uWebSockets.js forces itself (its `forceClose`): reported to the close handler as 1006 with one of these
 * texts as the message (uWebSockets src/WebSocketProtocol.h), where a lost connection has an empty message and a peer's
 * close frame its own code (an invalid one, 1006 included, arrives as 1006 with an empty message: it cannot pose as
 * one of these). Each maps to the close code RFC 6455 gives that reason. The locked build (v20.30) has the first
 * four; newer ones add the last two, listed so that an upgrade keeps counting them right (their "Received TCP FIN
 * before WebSocket close frame" needs no entry: the peer left, as with a lost connection).
 */
const UWS_FORCED_CLOSE_CODES: ReadonlyMap<string, number> = new Map([
  ['Received too big message', CLOSE_CODES.MESSAGE_TOO_BIG],
  ['Received too big message, or other inflation error', CLOSE_CODES.MESSAGE_TOO_BIG],
  ['Received invalid UTF-8', 1007],
  // sendPingsAutomatically: the peer answered no ping within idleTimeout (the keepalive)
  ['WebSocket timed out from inactivity', 1006],
  ['Received invalid WebSocket frame', 1002],
  ['Received invalid close payload', 1002],
]);

export interface UserData {
  info: UpgradeInfo;
  conn?: UwsConnection;
}

export class UwsConnection extends BaseConnection {
  constructor(
    private readonly ws: UWS.WebSocket<UserData>,
    info: UpgradeInfo,
    handler: ConnectionHandler,
    options: TransportOptions,
  ) {
    super(randomUUID(), info.remoteAddress, handler, options);
  }

  protected carrierSend(data: string | Uint8Array, isBinary: boolean): void {
    // Cork so a send from a timer or promise (outside a uWS callback) still goes out in one syscall. The status is
    // 0 (queued) or 1 (sent): with maxBackpressure 0 (uws-server.ts) uWS never drops (2).
    this.ws.cork(() => {
      this.ws.send(data, isBinary, false);
    });
  }

  protected carrierBufferedAmount(): number {
    return this.ws.getBufferedAmount();
  }

  protected carrierEnd(code: number, reason: string): void {
    this.ws.cork(() => this.ws.end(code, reason));
  }

  protected carrierTerminate(): void {
    this.ws.close();
  }

  protected carrierPing(payload: Uint8Array): void {
    this.ws.cork(() => this.ws.ping(payload));
  }

  handlePong(message: ArrayBuffer): void {
    this.ponged(new Uint8Array(message));
  }

  handleMessage(message: ArrayBuffer, isBinary: boolean): void {
    this.deliver(new Uint8Array(message), isBinary, false);
  }

  handleDrain(): void {
    this.writable();
  }

  /** Called for every close, ours included (BaseConnection then reported it already). */
  handleClose(code: number, message: ArrayBuffer): void {
    const reason = Buffer.from(message).toString('utf8');
    const forcedCode = code === 1006 ? UWS_FORCED_CLOSE_CODES.get(reason) : undefined;
    if (forcedCode === undefined) this.carrierClosed(code, reason, 'peer');
    else this.carrierClosed(forcedCode, reason, 'carrier');
  }
}
