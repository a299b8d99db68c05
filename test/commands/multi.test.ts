import type Redis from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connections } from '../helpers/connections.js';
import { completeReplies, type RunningServer, redisClient } from '../helpers/server.js';
import { useServer } from '../helpers/use-server.js';
import { sleep } from '../helpers/wait.js';

// Transactions (Redis's multi.c) end to end: queueing, EXECABORT, runtime errors, WATCH and what
// invalidates it. Raw RESP shows the exact replies; ioredis drives the other clients. Only
// Redis-compatible behaviour is asserted.

let server: RunningServer;
let r: Redis;
let other: Redis;
// raw() opens a connection that is closed after the test.
const { raw, closeAll } = connections(() => server);

const EXECABORT = '-EXECABORT Transaction discarded because of previous errors.\r\n';

useServer((s, connect) => {
  server = s;
  r = connect();
  other = connect();
});

beforeEach(async () => {
  await r.flushall();
});

afterEach(() => {
  closeAll();
});

describe('MULTI / EXEC / DISCARD', () => {
  it('queues commands and runs them in order', async () => {
    const c = await raw();
    expect(await c.command('MULTI')).toBe('+OK\r\n');
    expect(await c.command('SET', 'a', '1')).toBe('+QUEUED\r\n');
    expect(await c.command('INCR', 'a')).toBe('+QUEUED\r\n');
    expect(await c.command('GET', 'a')).toBe('+QUEUED\r\n');
    // Nothing has run yet.
    expect(await r.get('a')).toBeNull();
    expect(await c.command('EXEC')).toBe('*3\r\n+OK\r\n:2\r\n$1\r\n2\r\n');
    expect(await r.get('a')).toBe('2');
  });

  it('an empty transaction answers an empty array', async () => {
    const c = await raw();
    await c.command('MULTI');
    expect(await c.command('EXEC')).toBe('*0\r\n');
  });

  it('runtime errors inside EXEC do not stop the other commands', async () => {
    await r.rpush('list', 'x');
    const c = await raw();
    await c.command('MULTI');
    await c.command('SET', 'a', '1');
    await c.command('INCR', 'list');
    await c.command('LPUSH', 'a', 'x');
    await c.command('INCR', 'a');
    expect(await c.command('EXEC')).toBe(
      '*4\r\n+OK\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n' +
        '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n:2\r\n',
    );
    const res = await r.multi().set('b', 'x').incr('b').get('b').exec();
    expect(res?.[0]).toEqual([null, 'OK']);
    expect(res?.[1][0]?.message).toBe('ERR value is not an integer or out of range');
    expect(res?.[2]).toEqual([null, 'x']);
  });

  it('an unknown command while queueing aborts EXEC', async () => {
    const c = await raw();
    await c.command('MULTI');
    expect(await c.command('SET', 'a', '1')).toBe('+QUEUED\r\n');
    expect(await c.command('NOSUCH', 'x')).toBe("-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n");
    expect(await c.command('SET', 'b', '1')).toBe('+QUEUED\r\n');
    expect(await c.command('EXEC')).toBe(EXECABORT);
    expect(await r.exists('a', 'b')).toBe(0);
    // The transaction is over.
    expect(await c.command('EXEC')).toBe('-ERR EXEC without MULTI\r\n');
  });

  it('wrong arity while queueing aborts EXEC', async () => {
    const c = await raw();
    await c.command('MULTI');
    expect(await c.command('SET', 'a')).toBe("-ERR wrong number of arguments for 'set' command\r\n");
    expect(await c.command('GET', 'a')).toBe('+QUEUED\r\n');
    expect(await c.command('EXEC')).toBe(EXECABORT);
    expect(await r.exists('a')).toBe(0);
  });

  it('a bad argument is only found at EXEC time (not a queueing error)', async () => {
    const c = await raw();
    await c.command('MULTI');
    expect(await c.command('SET', 'a', '1', 'EX', 'x')).toBe('+QUEUED\r\n');
    expect(await c.command('SET', 'b', '2')).toBe('+QUEUED\r\n');
    expect(await c.command('EXEC')).toBe('*2\r\n-ERR value is not an integer or out of range\r\n+OK\r\n');
    expect(await r.get('b')).toBe('2');
  });

  it('EXEC with arguments discards the transaction', async () => {
    const c = await raw();
    await c.command('MULTI');
    await c.command('SET', 'a', '1');
    expect(await c.command('EXEC', 'now')).toBe(
      "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n",
    );
    expect(await c.command('EXEC')).toBe('-ERR EXEC without MULTI\r\n');
    expect(await r.exists('a')).toBe(0);
  });

  it('DISCARD drops the queue', async () => {
    const c = await raw();
    await c.command('MULTI');
    await c.command('SET', 'a', '1');
    expect(await c.command('DISCARD')).toBe('+OK\r\n');
    expect(await r.exists('a')).toBe(0);
    expect(await c.command('GET', 'a')).toBe('$-1\r\n');
  });

  it('EXEC / DISCARD without MULTI, nested MULTI, WATCH inside MULTI', async () => {
    const c = await raw();
    expect(await c.command('EXEC')).toBe('-ERR EXEC without MULTI\r\n');
    expect(await c.command('DISCARD')).toBe('-ERR DISCARD without MULTI\r\n');
    await c.command('MULTI');
    expect(await c.command('MULTI')).toBe('-ERR MULTI calls can not be nested\r\n');
    expect(await c.command('WATCH', 'a')).toBe('-ERR WATCH inside MULTI is not allowed\r\n');
    expect(await c.command('SET', 'a', '1')).toBe('+QUEUED\r\n');
    // Neither error aborts the transaction.
    expect(await c.command('EXEC')).toBe('*1\r\n+OK\r\n');
  });

  it('PING and ECHO inside EXEC keep their reply types', async () => {
    const c = await raw();
    c.send('MULTI\r\nPING\r\nPING hi\r\nECHO x\r\nEXEC\r\n');
    expect(await c.readUntil((t) => completeReplies(t) >= 5)).toBe(
      '+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+PONG\r\n$2\r\nhi\r\n$1\r\nx\r\n',
    );
  });

  it('pipelined and inline commands', async () => {
    const c = await raw();
    c.send('MULTI\r\nSET p 1\r\nINCRBY p 41\r\nEXEC\r\n');
    expect(await c.readUntil((t) => completeReplies(t) >= 4)).toBe('+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n:42\r\n');
  });

  it('SELECT inside a transaction applies to the commands after it', async () => {
    const c = await raw();
    await c.command('MULTI');
    if (server.engine === 'redis') {
      // The Redis engine cannot queue SELECT (it would switch a shared connection to Redis): docs/scaling.md.
      expect(await c.command('SELECT', '1')).toBe(
        '-ERR SELECT cannot be queued in a transaction on the Redis engine\r\n',
      );
      expect(await c.command('SET', 'x', 'in0')).toBe('+QUEUED\r\n');
      expect(await c.command('EXEC')).toBe('-EXECABORT Transaction discarded because of previous errors.\r\n');
      expect(await r.exists('x')).toBe(0);
      return;
    }
    await c.command('SELECT', '1');
    await c.command('SET', 'x', 'in1');
    await c.command('SELECT', '99');
    await c.command('SET', 'y', 'still1');
    expect(await c.command('EXEC')).toBe('*4\r\n+OK\r\n+OK\r\n-ERR DB index is out of range\r\n+OK\r\n');
    expect(await c.command('GET', 'y')).toBe('$6\r\nstill1\r\n');
    expect(await r.exists('x', 'y')).toBe(0);
  });

  it('blocking commands do not block inside EXEC', async () => {
    const c = await raw();
    await c.command('MULTI');
    await c.command('BLPOP', 'nolist', '0');
    await c.command('SET', 'after', '1');
    expect(await c.command('EXEC')).toBe('*2\r\n*-1\r\n+OK\r\n');
  });

  it('RESET leaves MULTI', async () => {
    const c = await raw();
    await c.command('MULTI');
    await c.command('SET', 'a', '1');
    expect(await c.command('RESET')).toBe('+RESET\r\n');
    expect(await c.command('EXEC')).toBe('-ERR EXEC without MULTI\r\n');
    expect(await r.exists('a')).toBe(0);
  });

  it('EXEC refused in RESP2 subscribed mode reports EXECABORT', async () => {
    const c = await raw();
    c.send('*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n');
    await c.readUntil((t) => completeReplies(t) >= 1);
    expect(await c.command('EXEC')).toBe(
      "-EXECABORT Transaction discarded because of: Can't execute 'exec': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
  });
});

describe('WATCH', () => {
  it('a change by another client aborts EXEC with a null array', async () => {
    await r.set('w', '1');
    const c = await raw();
    expect(await c.command('WATCH', 'w')).toBe('+OK\r\n');
    await other.set('w', '2');
    await c.command('MULTI');
    await c.command('SET', 'w', 'mine');
    expect(await c.command('EXEC')).toBe('*-1\r\n');
    expect(await r.get('w')).toBe('2');
  });

  it('a change between MULTI and EXEC aborts too; an unchanged key does not', async () => {
    await r.set('w', '1');
    const c = await raw();
    await c.command('WATCH', 'w', 'untouched');
    await c.command('MULTI');
    await c.command('INCR', 'w');
    await other.set('w', '1'); // same value still counts as a change
    expect(await c.command('EXEC')).toBe('*-1\r\n');
    await c.command('WATCH', 'untouched');
    await other.set('unrelated', 'x');
    await c.command('MULTI');
    await c.command('INCR', 'w');
    expect(await c.command('EXEC')).toBe('*1\r\n:2\r\n');
  });

  it('ioredis: exec() resolves null when aborted', async () => {
    const c = redisClient(server);
    try {
      await c.set('bal', '10');
      await c.watch('bal');
      await other.incr('bal');
      expect(await c.multi().decrby('bal', 5).exec()).toBeNull();
      await c.watch('bal');
      expect(await c.multi().decrby('bal', 5).exec()).toEqual([[null, 6]]);
    } finally {
      c.disconnect();
    }
  });

  it("the client's own writes before MULTI count as changes", async () => {
    const c = await raw();
    await c.command('WATCH', 'w');
    await c.command('SET', 'w', 'self');
    await c.command('MULTI');
    await c.command('GET', 'w');
    expect(await c.command('EXEC')).toBe('*-1\r\n');
  });

  it('watching a missing key: creating it aborts, even if deleted again', async () => {
    const c = await raw();
    await c.command('WATCH', 'ghost');
    await other.set('ghost', '1');
    await other.del('ghost');
    await c.command('MULTI');
    await c.command('PING');
    expect(await c.command('EXEC')).toBe('*-1\r\n');
  });

  it('a key of the same name in another database does not count', async () => {
    await r.set('w', '1');
    const c = await raw();
    await c.command('WATCH', 'w');
    const db1 = redisClient(server);
    try {
      await db1.select(1);
      await db1.set('w', 'other-db');
    } finally {
      db1.disconnect();
    }
    await c.command('MULTI');
    await c.command('PING');
    expect(await c.command('EXEC')).toBe('*1\r\n+PONG\r\n');
  });

  it('UNWATCH forgets, and EXEC / DISCARD unwatch', async () => {
    await r.set('w', '1');
    const c = await raw();
    await c.command('WATCH', 'w');
    expect(await c.command('UNWATCH')).toBe('+OK\r\n');
    await other.set('w', '2');
    await c.command('MULTI');
    await c.command('GET', 'w');
    expect(await c.command('EXEC')).toBe('*1\r\n$1\r\n2\r\n');
    // EXEC unwatched everything: a later change does not affect the next transaction.
    await c.command('WATCH', 'w');
    await c.command('MULTI');
    await c.command('PING');
    await c.command('EXEC');
    await other.set('w', '3');
    await c.command('MULTI');
    await c.command('PING');
    expect(await c.command('EXEC')).toBe('*1\r\n+PONG\r\n');
    // So does DISCARD.
    await c.command('WATCH', 'w');
    await c.command('MULTI');
    await c.command('DISCARD');
    await other.set('w', '4');
    await c.command('MULTI');
    await c.command('PING');
    expect(await c.command('EXEC')).toBe('*1\r\n+PONG\r\n');
  });

  it('an aborted EXEC also unwatches', async () => {
    await r.set('w', '1');
    const c = await raw();
    await c.command('WATCH', 'w');
    await other.set('w', '2');
    await c.command('MULTI');
    expect(await c.command('EXEC')).toBe('*-1\r\n');
    await c.command('MULTI');
    await c.command('PING');
    expect(await c.command('EXEC')).toBe('*1\r\n+PONG\r\n');
  });

  it('FLUSHALL and FLUSHDB abort when a watched key existed', async () => {
    for (const flush of [['FLUSHALL'], ['FLUSHDB'], ['FLUSHALL', 'ASYNC']]) {
      await r.set('w', '1');
      const c = await raw();
      await c.command('WATCH', 'w');
      await other.call(flush[0], ...flush.slice(1));
      await c.command('MULTI');
      await c.command('PING');
      expect([flush, await c.command('EXEC')]).toEqual([flush, '*-1\r\n']);
    }
  });

  it('FLUSHALL does not abort for a watched key that did not exist', async () => {
    await r.set('unrelated', '1');
    const c = await raw();
    await c.command('WATCH', 'missing');
    await other.flushall();
    await c.command('MULTI');
    await c.command('PING');
    expect(await c.command('EXEC')).toBe('*1\r\n+PONG\r\n');
  });

  it('SWAPDB aborts when a watched key is affected', async () => {
    const db1 = redisClient(server);
    try {
      await db1.select(1);
      await db1.set('w', 'in1');
      const c = await raw();
      await c.command('WATCH', 'w'); // missing in db 0, present in db 1
      await other.swapdb(0, 1);
      await c.command('MULTI');
      await c.command('GET', 'w');
      expect(await c.command('EXEC')).toBe('*-1\r\n');
    } finally {
      db1.disconnect();
    }
  });

  it('the watched key expiring aborts EXEC', async () => {
    await r.set('w', '1', 'PX', 50);
    const c = await raw();
    await c.command('WATCH', 'w');
    await sleep(150);
    await c.command('MULTI');
    await c.command('PING');
    expect(await c.command('EXEC')).toBe('*-1\r\n');
  });

  it('an expire command on the watched key aborts EXEC', async () => {
    await r.set('w', '1');
    const c = await raw();
    await c.command('WATCH', 'w');
    await other.expire('w', 100);
    await c.command('MULTI');
    await c.command('PING');
    expect(await c.command('EXEC')).toBe('*-1\r\n');
  });

  it('WATCH needs a key; UNWATCH takes none', async () => {
    const c = await raw();
    expect(await c.command('WATCH')).toBe("-ERR wrong number of arguments for 'watch' command\r\n");
    expect(await c.command('UNWATCH', 'x')).toBe("-ERR wrong number of arguments for 'unwatch' command\r\n");
  });
});
