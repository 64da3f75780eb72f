/**
 * TLS credentials for `wss://` (--tls-cert / --tls-key): read once at startup and checked with node:crypto, so a
 * wrong path, a file that is not PEM, or a key that does not belong to the certificate stops the server with
 * GW_ERR_BAD_CONFIG naming the file, instead of a carrier that fails at its first handshake. Browsers on https
 * pages may only open `wss://` sockets; behind a TLS-terminating proxy neither flag is needed.
 *
 * The whole chain is loaded as node:tls would serve it, not only its first certificate: a cut-off intermediate made
 * both carriers fail with an error that named no file. A leading byte order mark is refused: node:tls reads past it,
 * but uWebSockets.js reads the files itself and fails on it ("App construction failed").
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { GatewayError } from '../protocol/errors.js';
import type { TlsCredentials } from '../transports/transport.js';

function bad(message: string): GatewayError {
  return new GatewayError('GW_ERR_BAD_CONFIG', message);
}

async function readPem(file: string, what: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw bad(`cannot read the TLS ${what} ${JSON.stringify(file)}: ${(e as Error).message}`);
  }
  if (text.startsWith('\uFEFF')) {
    throw bad(`TLS ${what} ${JSON.stringify(file)} starts with a byte order mark, which the uws carrier cannot read: `
      + 'save it without one');
  }
  return text;
}

export async function loadTlsCredentials(certFile: string, keyFile: string): Promise<TlsCredentials> {
  const [cert, key] = await Promise.all([readPem(certFile, 'certificate'), readPem(keyFile, 'key')]);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    throw bad(`TLS certificate ${JSON.stringify(certFile)} is not a PEM certificate: ${(e as Error).message}`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    throw bad(`TLS key ${JSON.stringify(keyFile)} is not a PEM private key: ${(e as Error).message}`);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw bad(`TLS key ${JSON.stringify(keyFile)} does not belong to the certificate ${JSON.stringify(certFile)}`);
  }
  try {
    createSecureContext({ cert });
  } catch (e) {
    throw bad(`TLS certificate ${JSON.stringify(certFile)}: a certificate of its chain is not PEM: ${(e as Error).message}`);
  }
  return { certFile, keyFile, cert, key };
}
