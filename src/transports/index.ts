/**
 * Transport factory: the server layer picks a carrier by name and codes against {@link TransportServer} only.
 */
import { GatewayError } from '../protocol/errors.js';
import {
  resolveTransportOptions,
  type ConnectionHandler,
  type HttpRoutes,
  type TransportKind,
  type TransportOptions,
  type TransportServer,
  type UpgradeGate,
} from './transport.js';
import { UwsServer } from './uws-server.js';
import { WsServer } from './ws-server.js';

export * from './transport.js';
export * from './upgrade.js';
export { isNativeUws, uwsNativeAvailable } from './uws-server.js';

/**
 * Creates an unstarted server (call `listen`). Options are merged over DEFAULT_TRANSPORT_OPTIONS and validated
 * (GW_ERR_BAD_CONFIG). `'uws'` loads uWebSockets.js on first use; check `nativeBinary` to know whether the native
 * addon or the package's JavaScript fallback is running.
 */
export function createTransport(
  kind: TransportKind,
  options: Partial<TransportOptions>,
  handler: ConnectionHandler,
  gate: UpgradeGate,
  routes: HttpRoutes = {},
): TransportServer {
  const resolved = resolveTransportOptions(options);
  switch (kind) {
    case 'uws':
      return new UwsServer(resolved, handler, gate, routes);
    case 'ws':
      return new WsServer(resolved, handler, gate, routes);
    default:
      throw new GatewayError('GW_ERR_BAD_CONFIG', `transport must be 'uws' or 'ws', got ${JSON.stringify(kind)}`);
  }
}
