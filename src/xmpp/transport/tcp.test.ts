import { expect } from 'chai';
import { createServer, connect, type Socket } from 'node:net';
import { TcpTransport } from './tcp.js';

/** A connected pair of plain TCP sockets on loopback. */
async function socketPair(): Promise<{ server: Socket; client: Socket; close: () => void }> {
  const listener = createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as { port: number }).port;
  const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve));
  const client = connect(port, '127.0.0.1');
  const server = await accepted;
  return { server, client, close: () => (client.destroy(), server.destroy(), listener.close()) };
}

describe('TcpTransport', () => {
  it('sends the writes of one tick together (corked until the tick ends), in order', async () => {
    const { server, client, close } = await socketPair();
    try {
      const transport = new TcpTransport(server, null);
      transport.start(() => {}, () => {});
      let received = '';
      client.on('data', (d: Buffer) => (received += d.toString()));
      transport.write('<a/>');
      transport.write('<b/>');
      expect(server.writableCorked, 'corked after the first write of the tick').to.equal(1);
      transport.write('<c/>');
      await new Promise((resolve) => process.nextTick(resolve));
      expect(server.writableCorked, 'uncorked once the tick is over').to.equal(0);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(received).to.equal('<a/><b/><c/>');
      transport.write('<d/>');
      transport.end(); // flushes what the tick wrote before closing
      await new Promise((resolve) => client.once('end', resolve));
      expect(received).to.equal('<a/><b/><c/><d/>');
    } finally {
      close();
    }
  });
});
