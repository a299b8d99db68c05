import { spawn } from 'node:child_process';
import type Redis from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { connections } from '../helpers/connections.js';
import { err } from '../helpers/errors.js';
import { completeReplies, publishReceivers, type RawConnection, type RunningServer } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';
import { sleep } from '../helpers/wait.js';

// Pub/sub (Redis's pubsub.c) and keyspace notifications (notify.c) end to end, with real subscriber
// connections: raw RESP2/RESP3 for exact replies, ioredis and redis-cli for message flow. Only
// Redis-compatible behaviour is asserted; every wait is bounded.

let server: RunningServer;
let r: Redis;
// raw() and client() open connections that are closed after the test.
const { raw, client, closeAll } = connections(() => server);

/** Encodes a command as RESP. */
function enc(...argv: string[]): string {
  return `*${argv.length}\r\n${argv.map((a) => `$${Buffer.byteLength(a, 'latin1')}\r\n${a}\r\n`).join('')}`;
}

/** Sends one command and waits for `n` complete replies (SUBSCRIBE a b answers twice). */
async function send(c: RawConnection, n: number, ...argv: string[]): Promise<string> {
  c.send(enc(...argv));
  return c.readUntil((t) => completeReplies(t) >= n);
}

/** RESP2 text of a pattern message. */
function pmessage(pattern: string, channel: string, message: string): string {
  return `*4\r\n$8\r\npmessage\r\n${[pattern, channel, message].map((s) => `$${s.length}\r\n${s}\r\n`).join('')}`;
}

/** RESP2 text of a subscription confirmation. */
function conf(kind: string, name: string | null, count: number): string {
  return `*3\r\n$${kind.length}\r\n${kind}\r\n${name === null ? '$-1' : `$${name.length}\r\n${name}`}\r\n:${count}\r\n`;
}

useServer((s, connect) => {
  server = s;
  r = connect();
});

afterEach(async () => {
  closeAll();
  await r.config('SET', 'notify-keyspace-events', '');
  // Let the server drop the closed subscribers before the next test counts subscriptions.
  for (let i = 0; i < 100; i++) {
    const [channels, numpat] = await Promise.all([r.pubsub('CHANNELS'), r.pubsub('NUMPAT')]);
    if ((channels as string[]).length === 0 && numpat === 0) break;
    await sleep(10);
  }
});

describe('SUBSCRIBE / PSUBSCRIBE / UNSUBSCRIBE / PUNSUBSCRIBE replies', () => {
  it('one confirmation per name with the running subscription count', async () => {
    const c = await raw();
    expect(await send(c, 3, 'SUBSCRIBE', 'a', 'b', 'a')).toBe(
      conf('subscribe', 'a', 1) + conf('subscribe', 'b', 2) + conf('subscribe', 'a', 2),
    );
    expect(await send(c, 2, 'PSUBSCRIBE', 'h*', 'a')).toBe(conf('psubscribe', 'h*', 3) + conf('psubscribe', 'a', 4));
    expect(await send(c, 2, 'UNSUBSCRIBE', 'a', 'zz')).toBe(conf('unsubscribe', 'a', 3) + conf('unsubscribe', 'zz', 3));
    expect(await send(c, 1, 'UNSUBSCRIBE')).toBe(conf('unsubscribe', 'b', 2));
    expect(await send(c, 1, 'PUNSUBSCRIBE', 'h*')).toBe(conf('punsubscribe', 'h*', 1));
    expect(await send(c, 1, 'PUNSUBSCRIBE')).toBe(conf('punsubscribe', 'a', 0));
    // Nothing left: one reply with a nil name.
    expect(await send(c, 1, 'UNSUBSCRIBE')).toBe(conf('unsubscribe', null, 0));
    expect(await send(c, 1, 'PUNSUBSCRIBE')).toBe(conf('punsubscribe', null, 0));
    // Back in normal mode.
    expect(await c.command('PING')).toBe('+PONG\r\n');
  });

  it('(P)UNSUBSCRIBE without subscriptions also works outside subscribed mode', async () => {
    const c = await raw();
    expect(await send(c, 1, 'UNSUBSCRIBE')).toBe(conf('unsubscribe', null, 0));
    expect(await send(c, 1, 'PUNSUBSCRIBE', 'x')).toBe(conf('punsubscribe', 'x', 0));
    expect(await c.command('GET', 'x')).toBe('$-1\r\n');
  });

  it('arity', async () => {
    expect(await err(r.call('SUBSCRIBE'))).toBe("ERR wrong number of arguments for 'subscribe' command");
    expect(await err(r.call('PSUBSCRIBE'))).toBe("ERR wrong number of arguments for 'psubscribe' command");
    expect(await err(r.call('PUBLISH', 'a'))).toBe("ERR wrong number of arguments for 'publish' command");
  });
});

describe('RESP2 subscribed mode', () => {
  it('only (P|S)(UN)SUBSCRIBE, PING, QUIT and RESET are allowed', async () => {
    const c = await raw();
    await send(c, 1, 'SUBSCRIBE', 'ch');
    const refused = (cmd: string) =>
      `-ERR Can't execute '${cmd}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n`;
    expect(await c.command('GET', 'x')).toBe(refused('get'));
    expect(await c.command('set', 'x', 'y')).toBe(refused('set'));
    expect(await c.command('CLIENT', 'LIST')).toBe(refused('client|list'));
    expect(await c.command('PUBLISH', 'ch', 'x')).toBe(refused('publish'));
    // Unknown commands and wrong arity are reported as such first.
    expect(await c.command('NOSUCHCMD')).toBe("-ERR unknown command 'NOSUCHCMD', with args beginning with: \r\n");
    expect(await c.command('GET')).toBe("-ERR wrong number of arguments for 'get' command\r\n");
    // PING answers as a message-shaped array.
    expect(await c.command('PING')).toBe('*2\r\n$4\r\npong\r\n$0\r\n\r\n');
    expect(await c.command('PING', 'hi')).toBe('*2\r\n$4\r\npong\r\n$2\r\nhi\r\n');
    expect(await send(c, 1, 'PSUBSCRIBE', 'p*')).toBe(conf('psubscribe', 'p*', 2));
  });

  it('RESET leaves subscribed mode', async () => {
    const c = await raw();
    await send(c, 2, 'SUBSCRIBE', 'a', 'b');
    expect(await c.command('RESET')).toBe('+RESET\r\n');
    expect(await c.command('GET', 'nope')).toBe('$-1\r\n');
    expect(await r.pubsub('NUMSUB', 'a', 'b')).toEqual(['a', 0, 'b', 0]);
  });

  it('RESP3 clients may run any command while subscribed; messages are pushes', async () => {
    const c = await raw();
    expect(await c.command('HELLO', '3')).toMatch(/^%7\r\n/);
    expect(await send(c, 1, 'SUBSCRIBE', 'r3')).toBe('>3\r\n$9\r\nsubscribe\r\n$2\r\nr3\r\n:1\r\n');
    expect(await c.command('SET', 'r3key', 'v')).toBe('+OK\r\n');
    expect(await c.command('GET', 'r3key')).toBe('$1\r\nv\r\n');
    expect(await c.command('PING')).toBe('+PONG\r\n');
    expect(await r.publish('r3', 'hello')).toBe(1);
    expect(await c.readUntil((t) => completeReplies(t) >= 1)).toBe(
      '>3\r\n$7\r\nmessage\r\n$2\r\nr3\r\n$5\r\nhello\r\n',
    );
    expect(await send(c, 1, 'UNSUBSCRIBE')).toBe('>3\r\n$11\r\nunsubscribe\r\n$2\r\nr3\r\n:0\r\n');
  });
});

describe('PUBLISH', () => {
  it('delivers to channel and pattern subscribers and answers the number of deliveries', async () => {
    const a = await raw();
    const b = await raw();
    await send(a, 1, 'SUBSCRIBE', 'news');
    await send(b, 2, 'PSUBSCRIBE', 'n*', 'ne?s');
    // PUBLISH answers the number of deliveries (on the Redis engine, Redis's: see publishReceivers).
    expect(await r.publish('news', 'hello')).toBe(publishReceivers(server, 3));
    expect(await a.readUntil((t) => completeReplies(t) >= 1)).toBe(
      '*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n',
    );
    const got = await b.readUntil((t) => completeReplies(t) >= 2);
    // Two pattern matches, in no guaranteed order.
    expect(got).toContain('*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nhello\r\n');
    expect(got).toContain('*4\r\n$8\r\npmessage\r\n$4\r\nne?s\r\n$4\r\nnews\r\n$5\r\nhello\r\n');
    expect(await r.publish('zzz', 'x')).toBe(publishReceivers(server, 0));
    expect(await r.publish('nx', 'x')).toBe(1);
    expect(await b.readUntil((t) => completeReplies(t) >= 1)).toBe(pmessage('n*', 'nx', 'x'));
  });

  it('a client subscribed to a channel and a matching pattern gets both', async () => {
    const a = await raw();
    await send(a, 1, 'SUBSCRIBE', 'both');
    await send(a, 1, 'PSUBSCRIBE', 'bo*');
    expect(await r.publish('both', 'm')).toBe(publishReceivers(server, 2));
    const got = await a.readUntil((t) => completeReplies(t) >= 2);
    expect(got).toBe(
      '*3\r\n$7\r\nmessage\r\n$4\r\nboth\r\n$1\r\nm\r\n*4\r\n$8\r\npmessage\r\n$3\r\nbo*\r\n$4\r\nboth\r\n$1\r\nm\r\n',
    );
  });

  it('messages keep their order and binary content', async () => {
    const sub = client();
    const got: Buffer[] = [];
    sub.on('messageBuffer', (_ch: Buffer, msg: Buffer) => got.push(msg));
    await sub.subscribe('ordered');
    const payloads = Array.from({ length: 100 }, (_, i) => Buffer.from([i, 0, 13, 10, 255, i]));
    const pipe = r.pipeline();
    for (const p of payloads) pipe.publish('ordered', p);
    await pipe.exec();
    for (let i = 0; i < 200 && got.length < 100; i++) await sleep(10);
    expect(got).toEqual(payloads);
  });

  it.each([
    ['h?llo', ['hello', 'hallo', 'h-llo'], ['hllo', 'heello']],
    ['h*llo', ['hllo', 'hello', 'heeeello'], ['hell', 'ahello']],
    ['h[ae]llo', ['hello', 'hallo'], ['hillo', 'hllo']],
    ['h[^e]llo', ['hallo', 'hbllo'], ['hello', 'hllo']],
    ['h[a-b]llo', ['hallo', 'hbllo'], ['hcllo']],
    ['h[b-a]llo', ['hallo', 'hbllo'], ['hcllo']],
    ['h\\*llo', ['h*llo'], ['hello', 'hllo']],
    ['h\\?llo', ['h?llo'], ['hello']],
    ['h[\\]]llo', ['h]llo'], ['hello']],
    ['news.[0-9]*', ['news.1', 'news.42x'], ['news.', 'news.x']],
    ['*', ['anything', 'x'], []],
  ])('pattern %j', async (pattern, matching, other) => {
    const c = await raw();
    await send(c, 1, 'PSUBSCRIBE', pattern);
    for (const ch of other) expect([ch, await r.publish(ch, 'm')]).toEqual([ch, publishReceivers(server, 0)]);
    for (const ch of matching) expect([ch, await r.publish(ch, 'm')]).toEqual([ch, 1]);
    // Exactly the matching channels, in order (a message on another channel would come first).
    expect(await c.readUntil((t) => completeReplies(t) >= matching.length)).toBe(
      matching.map((ch) => pmessage(pattern, ch, 'm')).join(''),
    );
  });
});

describe('PUBSUB', () => {
  it('CHANNELS, NUMSUB and NUMPAT', async () => {
    const a = await raw();
    const b = await raw();
    await send(a, 2, 'SUBSCRIBE', 'ch1', 'ch2');
    await send(b, 2, 'SUBSCRIBE', 'ch1', 'other');
    await send(a, 2, 'PSUBSCRIBE', 'p1*', 'p2*');
    await send(b, 1, 'PSUBSCRIBE', 'p1*');
    expect((await r.pubsub('CHANNELS')) as string[]).toEqual(expect.arrayContaining(['ch1', 'ch2', 'other']));
    expect(((await r.pubsub('CHANNELS')) as string[]).length).toBe(3);
    expect(((await r.pubsub('CHANNELS', 'ch*')) as string[]).sort()).toEqual(['ch1', 'ch2']);
    expect(await r.pubsub('CHANNELS', 'x*')).toEqual([]);
    expect(await r.pubsub('NUMSUB', 'ch1', 'ch2', 'nope')).toEqual(['ch1', 2, 'ch2', 1, 'nope', 0]);
    expect(await r.pubsub('NUMSUB')).toEqual([]);
    // Unique patterns; pattern subscriptions are not channel subscribers.
    expect(await r.pubsub('NUMPAT')).toBe(2);
    expect(await r.pubsub('NUMSUB', 'p1*')).toEqual(['p1*', 0]);
    a.close();
    for (let i = 0; i < 100 && (await r.pubsub('NUMPAT')) !== 1; i++) await sleep(10);
    expect(await r.pubsub('NUMPAT')).toBe(1);
    expect(await r.pubsub('NUMSUB', 'ch1', 'ch2')).toEqual(['ch1', 1, 'ch2', 0]);
  });

  it('errors and HELP', async () => {
    expect(await err(r.call('PUBSUB', 'CHANNELS', 'a', 'b'))).toBe(
      "ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.",
    );
    expect(await err(r.call('PUBSUB', 'NUMPAT', 'x'))).toBe(
      "ERR wrong number of arguments for 'pubsub|numpat' command",
    );
    expect(await err(r.call('PUBSUB', 'FOO'))).toBe("ERR unknown subcommand 'FOO'. Try PUBSUB HELP.");
    expect(await err(r.call('PUBSUB'))).toBe("ERR wrong number of arguments for 'pubsub' command");
    const help = (await r.call('PUBSUB', 'HELP')) as string[];
    expect(help[0]).toMatch(/^PUBSUB <subcommand>/);
  });
});

/**
 * Collects keyspace notifications of db 0 on a fresh RESP2 connection subscribed to both channel
 * families: runs `fn`, then waits (bounded) until `until` holds, then drains with a marker message.
 */
async function notifications(
  flags: string,
  fn: () => Promise<void>,
  until: (got: string[]) => boolean = () => true,
): Promise<string[]> {
  // Start clean with notifications off, so leftovers of an earlier test (a key still to expire) stay silent.
  await r.config('SET', 'notify-keyspace-events', '');
  await r.del('a', 'b', 'x', 'x2', 'x3', 'y');
  await r.config('SET', 'notify-keyspace-events', flags);
  const c = await raw();
  await send(c, 1, 'PSUBSCRIBE', '__key*@0__:*');
  await send(c, 1, 'SUBSCRIBE', 'marker');
  const got: string[] = [];
  let buf = '';
  let done = false;
  const parse = (text: string) => {
    buf += text;
    // Split complete top-level replies: each is *3 (message) or *4 (pmessage) of bulk strings.
    for (;;) {
      const n = completeReplies(buf);
      if (n === 0) return;
      const parts: string[] = [];
      let pos = 0;
      const count = Number(buf.slice(1, buf.indexOf('\r\n')));
      pos = buf.indexOf('\r\n') + 2;
      for (let i = 0; i < count; i++) {
        const eol = buf.indexOf('\r\n', pos);
        const len = Number(buf.slice(pos + 1, eol));
        parts.push(buf.slice(eol + 2, eol + 2 + len));
        pos = eol + 2 + len + 2;
      }
      buf = buf.slice(pos);
      if (parts[0] === 'message' && parts[1] === 'marker') done = true;
      else if (parts[0] === 'pmessage') {
        const ch = parts[2];
        const space = ch.startsWith('__keyspace@');
        const name = ch.slice(ch.indexOf(':') + 1);
        got.push(space ? `space ${name} ${parts[3]}` : `event ${name} ${parts[3]}`);
      }
    }
  };
  await fn();
  const deadline = Date.now() + 5000;
  while (!until(got) && Date.now() < deadline) parse(await c.readUntil((t) => t.length > 0, 50));
  await r.publish('marker', 'end');
  while (!done && Date.now() < deadline + 2000) parse(await c.readUntil((t) => t.length > 0, 100));
  expect(done).toBe(true);
  await r.config('SET', 'notify-keyspace-events', '');
  return got;
}

/** SET a new key, DEL it, SET a key that expires soon, and wait for its expiry to be reported. */
async function sequence(): Promise<void> {
  await r.set('a', '1');
  await r.del('a');
  await r.set('b', '1', 'PX', 30);
}
const expiredSeen = (got: string[]) => got.some((g) => g.endsWith('expired') || g.includes(' expired '));

describe('keyspace notifications', () => {
  it.each([
    ['K$', ['space a set', 'space b set']],
    ['E$', ['event set a', 'event set b']],
    ['Kg', ['space a del', 'space b expire']],
    ['Eg', ['event del a', 'event expire b']],
    ['Kx', ['space b expired']],
    ['Ex', ['event expired b']],
    ['Kn', ['space a new', 'space b new']],
    ['KA', ['space a set', 'space a del', 'space b set', 'space b expire', 'space b expired']],
    [
      'KEA',
      [
        'space a set',
        'event set a',
        'space a del',
        'event del a',
        'space b set',
        'event set b',
        'space b expire',
        'event expire b',
        'space b expired',
        'event expired b',
      ],
    ],
    [
      'KAn',
      ['space a new', 'space a set', 'space a del', 'space b new', 'space b set', 'space b expire', 'space b expired'],
    ],
    ['Kl', []],
    ['KE', []],
    ['g$', []],
  ])('flags %j', async (flags, expected) => {
    const waitExpired = expected.some((e) => e.includes('expired'));
    const got = await notifications(flags, sequence, waitExpired ? expiredSeen : undefined);
    expect(got).toEqual(expected);
  });

  it('events of generic commands, in Redis order', async () => {
    await r.flushall();
    const got = await notifications('KEA', async () => {
      await r.mset('x', '1', 'y', '2');
      await r.rename('x', 'x2');
      await r.copy('x2', 'x3');
      await r.call('COPY', 'x3', 'x3', 'DB', '1');
      await r.move('y', 2);
      await r.expire('x2', 100);
      await r.persist('x2');
      await r.del('x2', 'x3', 'nope');
    });
    const space = got.filter((g) => g.startsWith('space')).map((g) => g.slice(6));
    expect(space).toEqual([
      'x set',
      'y set',
      'x rename_from',
      'x2 rename_to',
      'x3 copy_to',
      'y move_from',
      'x2 expire',
      'x2 persist',
      'x2 del',
      'x3 del',
    ]);
    expect(got.filter((g) => g.startsWith('event')).length).toBe(space.length);
  });

  it('CONFIG SET/GET notify-keyspace-events canonical forms and errors', async () => {
    for (const [set, get] of [
      ['KEA', 'AKE'],
      ['KEAnm', 'AKEm'],
      ['gnKm', 'gnKm'],
      ['ndx', 'xdn'],
      ['gE', 'gE'],
      ['Kn', 'nK'],
      ['K$', '$K'],
      ['Ex', 'xE'],
      ['Kgn', 'gnK'],
      ['g$lshzxetd', 'A'],
      ['', ''],
    ]) {
      await r.config('SET', 'notify-keyspace-events', set);
      expect([set, ((await r.config('GET', 'notify-keyspace-events')) as string[])[1]]).toEqual([set, get]);
    }
    expect(await err(r.config('SET', 'notify-keyspace-events', 'KQ'))).toBe(
      "ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
    );
  });
});

describe('redis-cli', () => {
  it('SUBSCRIBE prints messages as they arrive', async () => {
    const child = spawn('redis-cli', ['-h', server.host, '-p', String(server.port), 'SUBSCRIBE', 'cli-ch'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    try {
      for (let i = 0; i < 300 && (await r.pubsub('NUMSUB', 'cli-ch'))[1] !== 1; i++) await sleep(10);
      expect(await r.publish('cli-ch', 'hello from ioredis')).toBe(1);
      for (let i = 0; i < 300 && !out.includes('hello from ioredis'); i++) await sleep(10);
      expect(out).toBe('subscribe\ncli-ch\n1\nmessage\ncli-ch\nhello from ioredis\n');
    } finally {
      child.kill();
    }
  });
});
