import type { ServerOptions } from './config.js';
import { Engine } from './engine/engine.js';
import { RespServer } from './net/resp-server.js';

export interface Listening {
  kind: 'resp' | 'resp+tls';
  host: string;
  port: number;
}

/**
 * A whole kvws server: the engine plus its front doors. `start` opens every enabled listener and
 * returns their addresses; `stop` closes them and stops the engine's timers.
 */
export class KvwsServer {
  readonly engine: Engine;
  resp: RespServer | null = null;

  constructor(readonly options: ServerOptions) {
    this.engine = new Engine(options);
  }

  async start(): Promise<Listening[]> {
    const out: Listening[] = [];
    const o = this.options;
    if (o.respPort !== 0) {
      // Getters over the engine's live options: CONFIG SET timeout/maxclients/… applies at once.
      const live = this.engine.options;
      this.resp = new RespServer(this.engine, {
        host: o.host,
        port: o.respPort,
        tls: o.respTls && o.tlsCert && o.tlsKey ? { cert: o.tlsCert, key: o.tlsKey } : undefined,
        get maxClients() {
          return live.maxClients;
        },
        get timeout() {
          return live.timeout;
        },
        get protectedMode() {
          return live.protectedMode;
        },
        get pubsubHardLimit() {
          return live.pubsubHardLimit;
        },
        get pubsubSoftLimit() {
          return live.pubsubSoftLimit;
        },
        get pubsubSoftSeconds() {
          return live.pubsubSoftSeconds;
        },
        get maxBulkLen() {
          return live.protoMaxBulkLen;
        },
        get maxInlineLen() {
          return live.maxInlineLen;
        },
      });
      const st = this.resp.stats;
      this.engine.infoStats.push(() => [
        ['rejected_connections', st.rejectedConnections],
        ['client_output_buffer_limit_disconnections', st.outputBufferLimitDisconnections],
        ['client_query_buffer_limit_disconnections', st.queryBufferLimitDisconnections],
        ['idle_timeout_disconnections', st.idleTimeouts],
        ['protocol_errors', st.protocolErrors],
      ]);
      const addr = await this.resp.listen();
      out.push({ kind: o.respTls ? 'resp+tls' : 'resp', host: addr.host, port: addr.port });
    }
    return out;
  }

  async stop(): Promise<void> {
    await this.resp?.close();
    this.engine.shutdown();
  }
}
