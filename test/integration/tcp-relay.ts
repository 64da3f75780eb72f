/**
 * A TCP relay on loopback in front of a gateway's port, for tests that make the network misbehave between a real
 * client and a real gateway (hold, cut or bunch its bytes). Each client connection gets its own connection to the
 * gateway, and `wire` decides how bytes pass between the two (for a plain relay, `pipe` both ways). Socket errors are
 * swallowed: a relay's sockets end when `close()` destroys them, when `wire` cuts them, or with a killed client.
 */
import { createConnection, createServer, type Socket } from 'node:net';

export interface TcpRelay {
  /** The gateway's stream endpoint through the relay. */
  url: string;
  /** Stops listening and destroys every socket of the relay. */
  close: () => void;
}

export async function tcpRelay(gatewayPort: number, wire: (client: Socket, upstream: Socket) => void):
  Promise<TcpRelay> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection(gatewayPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
    }
    wire(client, upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `ws://127.0.0.1:${(server.address() as { port: number }).port}/v1/stream`,
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}
