import net from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 (a free port, `port`) to `target` on 127.0.0.1, that the test can cut or make
 * refuse connections, to show a client a broken network or a server that looks down. Each accepted
 * connection is piped to a new one to `target`; when either side closes, both are destroyed. Socket errors
 * are ignored (a cut is the point). `close()` refuses new connections, cuts the open ones and stops listening.
 */
export class TcpProxy {
  /** Open sockets, both sides of every proxied connection. */
  readonly sockets = new Set<net.Socket>();
  /** When true, new connections are accepted and destroyed at once (the server looks down). */
  refusing = false;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  /** Resolves once the proxy listens. */
  static async start(target: number): Promise<TcpProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (client) => proxy.accept(client, target));
    return proxy;
  }

  private accept(client: net.Socket, target: number): void {
    client.on('error', () => {});
    if (this.refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target, '127.0.0.1');
    upstream.on('error', () => {});
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Destroys every open connection (both sides), mid-stream; `refusing` alone decides about new ones. */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** Refuses new connections, cuts the open ones, and resolves once the listener is closed. */
  async close(): Promise<void> {
    this.refusing = true;
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
