import { existsSync } from 'node:fs';
import { TokenService } from './auth/jwt.js';
import { parseEngineTarget, redactUrl } from './backends/engine-target.js';
import { RedisGateway } from './backends/redis/gateway.js';
import { RedisBackend } from './backends/redis/redis-backend.js';
import { aclFilePath, isLoopbackHost, jwtKeysPath, type ServerOptions } from './config.js';
import { Engine } from './engine/engine.js';
import { type Logger, lineLogger, silentLogger } from './log.js';
import { Admission, type TlsPolicy } from './net/admission.js';
import { registerDashboard } from './net/dashboard.js';
import { HttpApi } from './net/http-api.js';
import { findCertificate, HttpsServer, sendJsonError } from './net/https-server.js';
import { registerObservability } from './net/metrics.js';
import { RespServer } from './net/resp-server.js';
import { WsGateway } from './net/ws-gateway.js';
import { LoadError } from './persistence/persistence.js';

export interface Listening {
  /** resp, resp+tls: the Redis protocol port; https, http (--no-tls): the WebSocket/HTTP port. */
  kind: 'resp' | 'resp+tls' | 'https' | 'http';
  host: string;
  port: number;
}

/**
 * A whole kvws server: the engine plus its front doors. `start` opens every enabled listener and
 * returns their addresses (if one fails, those already open are closed and the error rethrown); `stop`
 * closes them and stops the engine's timers.
 */
export class KvwsServer {
  readonly engine: Engine;
  resp: RespServer | null = null;
  https: HttpsServer | null = null;
  ws: WsGateway | null = null;
  api: HttpApi | null = null;
  /** The gateway to Redis when `--engine` names a Redis deployment (null: the embedded engine). */
  gateway: RedisGateway | null = null;
  /** Connection admission shared by the listeners: allow-lists, the per-address limit, refusal counters. */
  admission: Admission | null = null;

  /** Plain notices (start-up, persistence, certificate reloads) to `logger`, at info or warn (see lineLogger). */
  readonly log: (line: string) => void;

  /**
   * `logger` receives everything the server logs: the notices above, and the front doors' lines about a
   * request or a connection (auth failures, errors, slow consumers) with its `reqId` or `clientId`.
   */
  constructor(
    public options: ServerOptions,
    readonly logger: Logger = silentLogger,
  ) {
    const log = lineLogger(logger);
    this.log = log;
    const target = parseEngineTarget(options.engine);
    if (target.kind !== 'embedded') {
      // The data lives in Redis: kvws keeps no dataset of its own to persist (docs/scaling.md).
      options = { ...options, appendonly: false, save: '' };
      this.options = options;
    }
    this.engine = new Engine(options);
    this.engine.log = log;
    if (target.kind !== 'embedded') {
      const backend = new RedisBackend(target, {
        username: options.engineUsername,
        password: options.enginePassword,
        tlsCa: options.engineTlsCa,
        timeout: options.engineTimeout,
        maxDedicated: options.engineMaxDedicated,
      });
      this.gateway = new RedisGateway(this.engine, backend, options.engineNotify);
      this.gateway.install();
    }
  }

  async start(): Promise<Listening[]> {
    try {
      await this.startAuth();
      if (this.gateway) {
        try {
          await this.gateway.start();
        } catch (e) {
          throw new StartError(`${(e as Error).message} (--engine ${redactUrl(this.options.engine)})`);
        }
        this.log(`engine: ${redactUrl(this.options.engine)}`);
      }
      try {
        this.engine.persistence.load();
      } catch (e) {
        if (e instanceof LoadError) throw new StartError(e.message);
        throw e;
      }
      return await this.startListeners();
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /**
   * Loads the users file and the JWT keys, then applies "no open door": with the default user open (on,
   * nopass) and protected mode on, refuses to listen on a non-loopback address.
   */
  private async startAuth(): Promise<void> {
    const o = this.options;
    const acl = this.engine.acl;
    const usersFile = aclFilePath(o);
    if (usersFile && existsSync(usersFile)) {
      try {
        await acl.loadFile(usersFile);
      } catch (e) {
        throw new StartError((e as Error).message); // a bad line or an unreadable file: exit code 2
      }
      this.log(`users file ${usersFile}: ${acl.users.size} users`);
    } else if (o.aclFile) {
      throw new StartError(
        `users file ${o.aclFile} does not exist (create it with: kvws user add NAME --acl-file ${o.aclFile})`,
      );
    }
    const external =
      o.jwtExternalIssuer && o.jwtExternalAudience && (o.jwtExternalJwksUrl || o.jwtExternalPublicKey)
        ? {
            jwksUrl: o.jwtExternalJwksUrl,
            publicKeyFile: o.jwtExternalPublicKey,
            issuer: o.jwtExternalIssuer,
            audience: o.jwtExternalAudience,
            algorithms: o.jwtExternalAlgorithms,
            userClaim: o.jwtExternalUserClaim,
            defaultUser: o.jwtExternalDefaultUser,
          }
        : undefined;
    acl.tokens = await TokenService.create({
      issuer: o.jwtIssuer,
      audience: o.jwtAudience,
      keysFile: jwtKeysPath(o),
      defaultTtl: o.jwtDefaultTtl,
      maxTtl: o.jwtMaxTtl,
      clockSkew: o.jwtClockSkew,
      maxTokenBytes: o.jwtMaxTokenBytes,
      external,
    });
    if (o.protectedMode && !acl.authRequired && !isLoopbackHost(o.host)) {
      throw new StartError(
        `refusing to listen on ${o.host} with no authentication: the default user is open (on, nopass), so anyone ` +
          'who can reach this address could read and change everything. Add users and close the default user ' +
          '(kvws user add NAME; the users file then holds "user default off"), bind 127.0.0.1, or pass ' +
          '--no-protected-mode to allow unauthenticated clients from anywhere',
      );
    }
  }

  private async startListeners(): Promise<Listening[]> {
    const out: Listening[] = [];
    const o = this.options;
    const admission = new Admission({
      respAllowFrom: o.respAllowFrom,
      httpsAllowFrom: o.httpsAllowFrom,
      maxClientsPerAddress: o.maxClientsPerAddress,
      clientLimitExempt: o.clientLimitExempt,
      logger: this.logger,
    });
    this.admission = admission;
    this.engine.infoStats.push(() => [
      ...admission.infoFields(),
      ['acl_access_denied_address', this.engine.acl.stats.authDeniedAddress],
    ]);
    const tlsPolicy: TlsPolicy = {
      minVersion: o.tlsMinVersion,
      ciphers: o.tlsCiphers,
      handshakeTimeout: o.tlsHandshakeTimeout,
      clientCa: o.tlsClientCa,
      authClients: o.tlsAuthClients,
      clientUserField: o.tlsClientUserField,
    };
    if (o.respPort !== 0) {
      // Getters over the engine's live options: CONFIG SET timeout/maxclients/… applies at once.
      const live = this.engine.options;
      const respOptions = withLiveOptions(
        {
          host: o.host,
          port: o.respPort,
          tls: o.respTls && o.tlsCert && o.tlsKey ? { cert: o.tlsCert, key: o.tlsKey } : undefined,
          tlsPolicy,
          admission,
          authConfigured: () => this.engine.acl.authRequired,
          logger: this.logger,
        },
        live,
        {
          maxClients: 'maxClients',
          timeout: 'timeout',
          protectedMode: 'protectedMode',
          pubsubHardLimit: 'pubsubHardLimit',
          pubsubSoftLimit: 'pubsubSoftLimit',
          pubsubSoftSeconds: 'pubsubSoftSeconds',
          maxBulkLen: 'protoMaxBulkLen',
          maxInlineLen: 'maxInlineLen',
          maxInFlight: 'respMaxInFlight',
        },
      );
      this.resp = new RespServer(this.engine, respOptions);
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
    if (o.port !== 0) {
      const live = this.engine.options;
      const https = new HttpsServer({
        host: o.host,
        port: o.port,
        tls: o.tls ? findCertificate({ cert: o.tlsCert, key: o.tlsKey }) : null,
        allowInsecureRemote: o.allowInsecureRemote,
        log: this.log,
        admission,
        tlsPolicy,
        headersTimeout: o.httpHeadersTimeout,
        requestTimeout: o.httpRequestTimeout,
        keepAliveTimeout: o.httpKeepAliveTimeout,
        hstsMaxAge: o.hstsMaxAge,
        fastLane: o.httpFastLane,
      });
      this.https = https;
      const wsOptions = withLiveOptions(
        {
          maxFrame: o.wsMaxFrame,
          maxInFlight: o.wsMaxInFlight,
          pingInterval: o.wsPingInterval,
          maxBuffer: o.wsMaxBuffer,
          softBuffer: o.wsSoftBuffer,
          softSeconds: o.wsSoftSeconds,
          allowedOrigins: o.allowedOrigins,
          authConfigured: () => this.engine.acl.authRequired,
          logger: this.logger,
        },
        live,
        { maxClients: 'maxClients', protectedMode: 'protectedMode' },
      );
      const ws = new WsGateway(this.engine, wsOptions);
      this.ws = ws;
      https.route('/ws', {
        upgrade: (req, socket, head) => ws.handleUpgrade(req, socket, head),
        request: (_req, res) => {
          res.setHeader('upgrade', 'websocket');
          sendJsonError(res, 426, 'ERR /ws is the WebSocket endpoint: open it with the kvws.v1 subprotocol');
        },
      });
      const api = new HttpApi(
        this.engine,
        withLiveOptions({ logger: this.logger }, live, { maxBody: 'httpMaxBody', protectedMode: 'protectedMode' }),
      );
      this.api = api;
      api.register(https);
      registerObservability(this, https);
      registerDashboard(https);
      const hs = api.stats;
      this.engine.infoStats.push(() => {
        const lane = https.fastLaneStats;
        return [
          ['http_requests', hs.requests],
          ['http_responses_2xx', hs.responses2xx],
          ['http_responses_4xx', hs.responses4xx],
          ['http_responses_5xx', hs.responses5xx],
          ['http_auth_failures', hs.authFailures],
          ['http_rejected_body_too_large', hs.rejectedBodyTooLarge],
          ['http_tokens_issued', hs.tokensIssued],
          ['http_streams', hs.streams],
          ['http_streams_too_slow', hs.streamsTooSlow],
          ['http_rejected_origin', hs.rejectedOrigin],
          ['http_fast_lane_connections', lane.connections],
          ['http_fast_lane_requests', lane.requests],
          ['http_fast_lane_handovers', lane.handedOver],
        ];
      });
      const st = ws.stats;
      this.engine.infoStats.push(() => [
        ['ws_connected_clients', ws.connections.size],
        ['ws_connections_received', st.connectionsReceived],
        ['ws_rejected_subprotocol', st.rejectedSubprotocol],
        ['ws_rejected_bad_request', st.rejectedBadRequest],
        ['ws_rejected_origin', st.rejectedOrigin],
        ['ws_rejected_maxclients', st.rejectedMaxClients],
        ['ws_rejected_protected_mode', st.rejectedProtectedMode],
        ['ws_frames_in', st.framesIn],
        ['ws_frames_out', st.framesOut],
        ['ws_bad_frames', st.badFrames],
        ['ws_busy_replies', st.busyReplies],
        ['ws_frame_too_large_disconnections', st.frameTooLarge],
        ['ws_slow_disconnections', st.slowDisconnections],
        ['ws_dead_peer_disconnections', st.deadPeers],
        ['ws_protocol_errors', st.protocolErrors],
        ['https_socket_errors', https.socketErrors],
        ['tls_certificate_reloads', https.certificateReloads],
      ]);
      const addr = await https.listen();
      out.push({ kind: o.tls ? 'https' : 'http', host: addr.host, port: addr.port });
    }
    return out;
  }

  /** Re-reads the HTTPS certificate (SIGHUP). Resolves false when there is no TLS listener or the files are unusable. */
  /** SIGHUP: re-reads the JWT signing keys (after `kvws token rotate`). */
  async reloadKeys(): Promise<void> {
    const ok = await this.engine.acl.tokens?.reload();
    this.log(
      ok ? 'SIGHUP: JWT signing keys reloaded' : 'SIGHUP: JWT signing keys not reloaded (no keys file, or unreadable)',
    );
  }

  async reloadCertificate(why = 'SIGHUP'): Promise<boolean> {
    if (!this.https?.secure) {
      this.log(`${why}: no TLS certificate to reload (the HTTPS port is off or --no-tls)`);
      return false;
    }
    return this.https.reloadCertificate(why);
  }

  /**
   * Graceful shutdown: closes every front door (pending replies are flushed; WebSocket clients get 1001),
   * then makes everything durable (the AOF written and fsynced, or a final dump) and stops the timers.
   */
  async stop(): Promise<void> {
    this.api?.close();
    await Promise.all([this.resp?.close(), this.ws?.close()]);
    await this.https?.close();
    this.engine.shutdown();
    await this.gateway?.close();
    await this.engine.persistence.shutdown();
  }
}

/** A start-up refusal (bad users file, open door on a public address): printed without a stack trace. */
export class StartError extends Error {}

/**
 * Adds to `base` one getter per entry of `map`, reading `live[map[name]]` at each use, and returns it: a
 * front door given this object sees CONFIG SET changes to the server's options at once.
 */
function withLiveOptions<T extends object, M extends Record<string, keyof ServerOptions>>(
  base: T,
  live: ServerOptions,
  map: M,
): T & { [P in keyof M]: ServerOptions[M[P]] } {
  for (const [name, key] of Object.entries(map)) {
    Object.defineProperty(base, name, { enumerable: true, get: () => live[key] });
  }
  return base as T & { [P in keyof M]: ServerOptions[M[P]] };
}
