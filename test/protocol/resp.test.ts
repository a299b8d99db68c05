import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BooleanReply,
  DoubleReply,
  ErrorReply,
  MapReply,
  MultiReply,
  NULL_ARRAY,
  OK,
  PONG,
  PushReply,
  type Reply,
  SetReply,
  SimpleString,
  VerbatimReply,
} from '../../server/src/protocol/reply.js';
import { encodeCommand, RespParser, RespProtocolError, RespWriter } from '../../server/src/protocol/resp.js';

// The codec is a pure function of bytes, so these tests drive it directly; the end-to-end RESP tests
// (real clients against a running server) live next to the server tests.

const bin = (s: string) => Buffer.from(s, 'latin1');

/** Feeds all of `input` in the given chunk sizes and drains every command (or the error). */
function parseAll(input: Buffer, chunks: number[] = [input.length], parser = new RespParser()): (string[] | string)[] {
  const out: (string[] | string)[] = [];
  let pos = 0;
  let i = 0;
  const drain = () => {
    for (let r = parser.next(); r !== null; r = parser.next()) out.push(r instanceof RespProtocolError ? r.message : r);
  };
  while (pos < input.length) {
    const n = Math.max(1, chunks[i++ % chunks.length]);
    parser.feed(input.subarray(pos, pos + n));
    pos += n;
    drain();
  }
  drain();
  return out;
}

function firstError(input: string, parser = new RespParser()): string | null {
  parser.feed(bin(input));
  for (;;) {
    const r = parser.next();
    if (r === null) return null;
    if (r instanceof RespProtocolError) return r.message;
  }
}

describe('RespParser: multibulk', () => {
  it('parses a pipeline and returns null between commands', () => {
    const p = new RespParser();
    p.feed(bin('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET'));
    expect(p.next()).toEqual(['SET', 'k', 'hello']);
    expect(p.next()).toEqual(['PING']);
    expect(p.next()).toBeNull();
    p.feed(bin('\r\n$1\r\nk\r\n'));
    expect(p.next()).toEqual(['GET', 'k']);
    expect(p.next()).toBeNull();
    expect(p.bufferedBytes).toBe(0);
  });

  it('gives the same commands when fed one byte at a time (split at every byte)', () => {
    const stream = Buffer.concat([
      encodeCommand(['SET', 'key', 'value with\r\nCRLF']),
      encodeCommand(['']),
      bin('*0\r\n*-1\r\n'),
      encodeCommand(['MSET', 'a', '1', 'b', '', 'c', 'x'.repeat(300)]),
      bin('PING\r\n'),
      encodeCommand(['GET', 'a']),
    ]);
    const whole = parseAll(stream);
    expect(whole).toEqual([
      ['SET', 'key', 'value with\r\nCRLF'],
      [''],
      ['MSET', 'a', '1', 'b', '', 'c', 'x'.repeat(300)],
      ['PING'],
      ['GET', 'a'],
    ]);
    expect(parseAll(stream, [1])).toEqual(whole);
    for (let cut = 1; cut < stream.length; cut++) {
      expect(parseAll(stream, [cut, stream.length])).toEqual(whole);
    }
  });

  it('skips *0 and negative counts', () => {
    expect(parseAll(bin('*0\r\n*-1\r\n*-99\r\n*1\r\n$4\r\nPING\r\n'))).toEqual([['PING']]);
  });

  it('round-trips all 256 byte values in a bulk argument', () => {
    const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
    const args = ['SET', all, all + all, '\r\n', '\0'];
    expect(parseAll(encodeCommand(args))).toEqual([args]);
    expect(parseAll(encodeCommand(args), [1])).toEqual([args]);
    const enc = encodeCommand([all]);
    expect([...enc.subarray(enc.length - 258, enc.length - 2)]).toEqual(Array.from({ length: 256 }, (_, i) => i));
  });

  it('collects big arguments (>= 32 KiB) delivered in chunks', () => {
    const big = Array.from({ length: 200_000 }, (_, i) => String.fromCharCode(i % 256)).join('');
    const stream = Buffer.concat([
      encodeCommand(['SET', 'k', big]),
      encodeCommand(['GET', 'k']),
      encodeCommand(['SET', 'j', big.slice(0, 40_000)]),
    ]);
    const expected = [
      ['SET', 'k', big],
      ['GET', 'k'],
      ['SET', 'j', big.slice(0, 40_000)],
    ];
    expect(parseAll(stream)).toEqual(expected);
    expect(parseAll(stream, [1000])).toEqual(expected);
    expect(parseAll(stream, [65536])).toEqual(expected);
    expect(parseAll(stream, [7, 32768, 3, 100_001])).toEqual(expected);
  });

  it('does not parse ahead: the caller may pause between commands and keep feeding', () => {
    const p = new RespParser();
    p.feed(Buffer.concat([encodeCommand(['BLPOP', 'l', '0']), encodeCommand(['PING'])]));
    expect(p.next()).toEqual(['BLPOP', 'l', '0']);
    for (let i = 0; i < 1000; i++) p.feed(encodeCommand(['ECHO', String(i)]));
    expect(p.next()).toEqual(['PING']);
    for (let i = 0; i < 1000; i++) expect(p.next()).toEqual(['ECHO', String(i)]);
    expect(p.next()).toBeNull();
  });

  it('skips the two bytes after bulk data without checking them, like Redis', () => {
    expect(parseAll(bin('*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n'))).toEqual([['PING'], ['PING']]);
  });
});

describe('RespParser: inline', () => {
  it('splits like sdssplitargs', () => {
    const cases: [string, string[]][] = [
      ['set foo bar', ['set', 'foo', 'bar']],
      ['  set   foo\tbar  ', ['set', 'foo', 'bar']],
      ['set "a b" \'c d\'', ['set', 'a b', 'c d']],
      ['echo "\\x41\\x7a\\n\\r\\t\\b\\a\\\\\\"\\q"', ['echo', 'Az\n\r\t\b\x07\\"q']],
      ['echo "\\xZZ"', ['echo', 'xZZ']],
      ["echo 'it\\'s' 'a\\nb'", ['echo', "it's", 'a\\nb']],
      ['echo foo"bar"', ['echo', 'foobar']],
      ['echo ""', ['echo', '']],
      ['echo \x01\xff', ['echo', '\x01\xff']],
    ];
    for (const [line, argv] of cases) {
      expect(parseAll(bin(`${line}\r\n`)), line).toEqual([argv]);
      expect(parseAll(bin(`${line}\n`), [1]), line).toEqual([argv]);
    }
  });

  it('accepts LF alone, ignores empty lines, mixes with multibulk', () => {
    const stream = bin('\r\n\n   \r\nPING\nECHO hi\r\n*1\r\n$4\r\nPING\r\nQUIT\r\n');
    const expected = [['PING'], ['ECHO', 'hi'], ['PING'], ['QUIT']];
    expect(parseAll(stream)).toEqual(expected);
    expect(parseAll(stream, [1])).toEqual(expected);
  });

  it('ends the line at a NUL byte like the C original', () => {
    expect(parseAll(bin('echo a\0b c\r\n'))).toEqual([['echo', 'a']]);
  });
});

describe('RespParser: protocol errors (Redis messages)', () => {
  const cases: [string, string][] = [
    ['*abc\r\n', 'ERR Protocol error: invalid multibulk length'],
    ['*\r\n', 'ERR Protocol error: invalid multibulk length'],
    ['*+1\r\n', 'ERR Protocol error: invalid multibulk length'],
    ['*01\r\n', 'ERR Protocol error: invalid multibulk length'],
    ['*-0\r\n', 'ERR Protocol error: invalid multibulk length'],
    ['*2147483648\r\n', 'ERR Protocol error: invalid multibulk length'],
    ['*99999999999999999999\r\n', 'ERR Protocol error: invalid multibulk length'],
    ['*1\r\n$-1\r\n', 'ERR Protocol error: invalid bulk length'],
    ['*1\r\n$x\r\n', 'ERR Protocol error: invalid bulk length'],
    ['*1\r\n$\r\n', 'ERR Protocol error: invalid bulk length'],
    ['*1\r\n$2147483647\r\n', 'ERR Protocol error: invalid bulk length'],
    ['*1\r\n$536870913\r\n', 'ERR Protocol error: invalid bulk length'],
    ['*1\r\nfoo\r\n', "ERR Protocol error: expected '$', got 'f'"],
    ['*1\r\n\r\n\r\n', "ERR Protocol error: expected '$', got ' '"],
    ['*2\r\n$1\r\na\r\n:1\r\n', "ERR Protocol error: expected '$', got ':'"],
    ['set "foo\r\n', 'ERR Protocol error: unbalanced quotes in request'],
    ['set "foo"bar\r\n', 'ERR Protocol error: unbalanced quotes in request'],
    ["set 'foo\r\n", 'ERR Protocol error: unbalanced quotes in request'],
    ["set 'foo'bar\r\n", 'ERR Protocol error: unbalanced quotes in request'],
    ['set "foo\\"\r\n', 'ERR Protocol error: unbalanced quotes in request'],
  ];
  for (const [input, message] of cases) {
    it(`${JSON.stringify(input)} → ${message}`, () => {
      expect(firstError(input)).toBe(message);
    });
  }

  it('too big inline request / mbulk count / bulk count (no terminator within 64 KiB)', () => {
    expect(firstError('x'.repeat(64 * 1024))).toBeNull();
    expect(firstError('x'.repeat(64 * 1024 + 1))).toBe('ERR Protocol error: too big inline request');
    expect(firstError(`*${'1'.repeat(64 * 1024 + 10)}`)).toBe('ERR Protocol error: too big mbulk count string');
    expect(firstError(`*1\r\n$${'1'.repeat(64 * 1024 + 10)}`)).toBe('ERR Protocol error: too big bulk count string');
    // A long inline line that does end is fine, as in Redis.
    expect(parseAll(bin(`echo ${'y'.repeat(100_000)}\r\n`))).toEqual([['echo', 'y'.repeat(100_000)]]);
  });

  it('honours maxBulkLen, maxMultibulkLen and maxInlineLen options', () => {
    expect(firstError('*1\r\n$11\r\n', new RespParser({ maxBulkLen: 10 }))).toBe(
      'ERR Protocol error: invalid bulk length',
    );
    expect(firstError('*1\r\n$10\r\n', new RespParser({ maxBulkLen: 10 }))).toBeNull();
    expect(firstError('*6\r\n', new RespParser({ maxMultibulkLen: 5 }))).toBe(
      'ERR Protocol error: invalid multibulk length',
    );
    expect(firstError('x'.repeat(101), new RespParser({ maxInlineLen: 100 }))).toBe(
      'ERR Protocol error: too big inline request',
    );
  });

  it('applies the unauthenticated limits when asked', () => {
    const unauth = () => new RespParser({ unauthenticatedLimits: true });
    expect(firstError('*11\r\n', unauth())).toBe('ERR Protocol error: unauthenticated multibulk length');
    expect(firstError('*10\r\n', unauth())).toBeNull();
    expect(firstError('*1\r\n$16385\r\n', unauth())).toBe('ERR Protocol error: unauthenticated bulk length');
    expect(firstError('*1\r\n$16384\r\n', unauth())).toBeNull();
    expect(firstError('*11\r\n')).toBeNull();
  });

  it('returns the commands before the error, then the error once, then nothing', () => {
    const p = new RespParser();
    p.feed(bin('PING\r\n*1\r\n$4\r\nECHO\r\n*1\r\nxx\r\n*1\r\n$4\r\nPING\r\n'));
    expect(p.next()).toEqual(['PING']);
    expect(p.next()).toEqual(['ECHO']);
    const err = p.next();
    expect(err).toBeInstanceOf(RespProtocolError);
    expect((err as RespProtocolError).message).toBe("ERR Protocol error: expected '$', got 'x'");
    expect((err as RespProtocolError).reason).toBe('expected $ but got something else');
    expect(p.next()).toBeNull();
    p.feed(encodeCommand(['PING']));
    expect(p.next()).toBeNull();
    expect(p.bufferedBytes).toBe(0);
  });
});

describe('RespParser: memory is bounded by bytes received, not declared lengths', () => {
  it('does not allocate for a huge declared bulk length', () => {
    const before = process.memoryUsage().arrayBuffers;
    const parsers: RespParser[] = [];
    for (let i = 0; i < 20; i++) {
      const p = new RespParser();
      p.feed(bin('*1\r\n$536870000\r\n'));
      expect(p.next()).toBeNull();
      p.feed(bin('abcdefgh'));
      p.feed(Buffer.alloc(1000, 120));
      expect(p.next()).toBeNull();
      expect(p.bufferedBytes).toBe(1008);
      parsers.push(p);
    }
    // 20 parsers each "expecting" 512 MiB must together hold only about what they received.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 * 1024 * 1024);
    expect(parsers.length).toBe(20);
  });

  it('does not preallocate argv for a huge declared count', () => {
    const p = new RespParser();
    p.feed(bin('*2147483647\r\n$1\r\na\r\n$1\r\nb\r\n'));
    expect(p.next()).toBeNull();
    expect(p.bufferedBytes).toBe(0);
  });

  it('rejects a declared bulk length over proto-max-bulk-len before any data', () => {
    expect(firstError('*1\r\n$2147483647\r\n')).toBe('ERR Protocol error: invalid bulk length');
    // Deviation from Redis: a JS string holds at most 2^29 - 24 chars, so a bulk of exactly 512 MiB
    // (Redis's default limit) is refused up front rather than after receiving it.
    expect(firstError('*1\r\n$536870888\r\n')).toBeNull();
    expect(firstError('*1\r\n$536870889\r\n')).toBe('ERR Protocol error: invalid bulk length');
  });
});

describe('RespParser: property', () => {
  const binString = fc.oneof(
    {
      weight: 8,
      arbitrary: fc.string({
        unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)),
        maxLength: 40,
      }),
    },
    { weight: 1, arbitrary: fc.constantFrom('', '\r\n', '*1\r\n', '$-1\r\n', '\0') },
    { weight: 1, arbitrary: fc.integer({ min: 32 * 1024 - 2, max: 40 * 1024 }).map((n) => 'z'.repeat(n)) },
  );
  const argv = fc.array(binString, { minLength: 1, maxLength: 8 });

  it('encodeCommand → random chunk splits → parse gives the same argv arrays', () => {
    fc.assert(
      fc.property(
        fc.array(argv, { minLength: 1, maxLength: 10 }),
        fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 20 }),
        (cmds, splits) => {
          const stream = Buffer.concat(cmds.map(encodeCommand));
          expect(parseAll(stream, splits)).toEqual(cmds);
        },
      ),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------

function enc(reply: Reply, proto: 2 | 3): string {
  const w = new RespWriter();
  w.write(reply, proto);
  expect(w.length).toBeGreaterThan(0);
  const out = w.take().toString('latin1');
  expect(w.length).toBe(0);
  return out;
}

describe('RespWriter', () => {
  it('encodes the plain JS replies', () => {
    for (const proto of [2, 3] as const) {
      expect(enc('hello', proto)).toBe('$5\r\nhello\r\n');
      expect(enc('', proto)).toBe('$0\r\n\r\n');
      expect(enc(0, proto)).toBe(':0\r\n');
      expect(enc(42, proto)).toBe(':42\r\n');
      expect(enc(-7, proto)).toBe(':-7\r\n');
      expect(enc(9999, proto)).toBe(':9999\r\n');
      expect(enc(10000, proto)).toBe(':10000\r\n');
      expect(enc(Number.MAX_SAFE_INTEGER, proto)).toBe(':9007199254740991\r\n');
      expect(enc(Number.MIN_SAFE_INTEGER, proto)).toBe(':-9007199254740991\r\n');
      expect(enc(9223372036854775807n, proto)).toBe(':9223372036854775807\r\n');
      expect(enc(-9223372036854775808n, proto)).toBe(':-9223372036854775808\r\n');
      expect(enc([], proto)).toBe('*0\r\n');
      expect(enc(['a', 1, ['b', null]], proto)).toBe(
        `*3\r\n$1\r\na\r\n:1\r\n*2\r\n$1\r\nb\r\n${proto === 3 ? '_' : '$-1'}\r\n`,
      );
      expect(enc(OK, proto)).toBe('+OK\r\n');
      expect(enc(PONG, proto)).toBe('+PONG\r\n');
      expect(enc(new SimpleString('QUEUED'), proto)).toBe('+QUEUED\r\n');
      expect(enc(new ErrorReply('WRONGTYPE Operation against a key'), proto)).toBe(
        '-WRONGTYPE Operation against a key\r\n',
      );
      expect(enc(new ErrorReply('ERR bad\r\nline'), proto)).toBe('-ERR bad  line\r\n');
    }
    expect(enc(null, 2)).toBe('$-1\r\n');
    expect(enc(null, 3)).toBe('_\r\n');
  });

  it('writes integers of every digit count', () => {
    let n = 1;
    for (let d = 1; d <= 16; d++) {
      for (const v of [n, n * 9, n * 5 + 3]) {
        if (Number.isSafeInteger(v)) expect(enc(v, 2)).toBe(`:${v}\r\n`);
      }
      n *= 10;
    }
    for (let v = 0; v < 20000; v += 7) expect(enc(v, 2)).toBe(`:${v}\r\n`);
  });

  it('writes bulk strings as bytes (latin1), all 256 values, short and long', () => {
    const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
    for (const s of [all, all.slice(0, 10), all.repeat(300)]) {
      const w = new RespWriter();
      w.write(s, 2);
      const b = w.take();
      const header = `$${s.length}\r\n`;
      expect(b.length).toBe(header.length + s.length + 2);
      expect(b.subarray(header.length, header.length + s.length).equals(Buffer.from(s, 'latin1'))).toBe(true);
    }
  });

  it('encodes RESP3 types and their RESP2 fallbacks', () => {
    const map = new MapReply([
      ['a', 1],
      ['b', new DoubleReply(1.5)],
    ]);
    expect(enc(map, 3)).toBe('%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n,1.5\r\n');
    expect(enc(map, 2)).toBe('*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n$3\r\n1.5\r\n');
    expect(enc(new SetReply(['x', 'y']), 3)).toBe('~2\r\n$1\r\nx\r\n$1\r\ny\r\n');
    expect(enc(new SetReply(['x', 'y']), 2)).toBe('*2\r\n$1\r\nx\r\n$1\r\ny\r\n');
    expect(enc(new PushReply(['message', 'ch', 'hi']), 3)).toBe('>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n');
    expect(enc(new PushReply(['message', 'ch', 'hi']), 2)).toBe('*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n');
    expect(enc(new BooleanReply(true), 3)).toBe('#t\r\n');
    expect(enc(new BooleanReply(false), 3)).toBe('#f\r\n');
    expect(enc(new BooleanReply(true), 2)).toBe(':1\r\n');
    expect(enc(new BooleanReply(false), 2)).toBe(':0\r\n');
    expect(enc(new VerbatimReply('# Server\r\nx:1'), 3)).toBe('=17\r\ntxt:# Server\r\nx:1\r\n');
    expect(enc(new VerbatimReply('hello', 'mkd'), 3)).toBe('=9\r\nmkd:hello\r\n');
    expect(enc(new VerbatimReply('# Server\r\nx:1'), 2)).toBe('$13\r\n# Server\r\nx:1\r\n');
    const multi = new MultiReply([new PushReply(['subscribe', 'a', 1]), new PushReply(['subscribe', 'b', 2])]);
    expect(enc(multi, 3)).toBe('>3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n');
    expect(enc(multi, 2)).toBe('*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n');
    expect(enc(NULL_ARRAY, 2)).toBe('*-1\r\n');
    expect(enc(NULL_ARRAY, 3)).toBe('_\r\n');
  });

  it('encodes doubles: RESP3 `,` with inf/-inf/nan, RESP2 bulk via formatDouble', () => {
    expect(enc(new DoubleReply(3), 3)).toBe(',3\r\n');
    expect(enc(new DoubleReply(-0.25), 3)).toBe(',-0.25\r\n');
    expect(enc(new DoubleReply(1e300), 3)).toBe(',1e+300\r\n');
    expect(enc(new DoubleReply(Number.POSITIVE_INFINITY), 3)).toBe(',inf\r\n');
    expect(enc(new DoubleReply(Number.NEGATIVE_INFINITY), 3)).toBe(',-inf\r\n');
    expect(enc(new DoubleReply(Number.NaN), 3)).toBe(',nan\r\n');
    expect(enc(new DoubleReply(Number.POSITIVE_INFINITY), 2)).toBe('$3\r\ninf\r\n');
    expect(enc(new DoubleReply(Number.NEGATIVE_INFINITY), 2)).toBe('$4\r\n-inf\r\n');
    expect(enc(new DoubleReply(3.14), 2)).toBe('$4\r\n3.14\r\n');
  });

  it('writePush encodes an item list as a push', () => {
    const w = new RespWriter();
    w.writePush(['invalidate', ['k']], 3);
    w.writePush(['invalidate', ['k']], 2);
    expect(w.take().toString('latin1')).toBe(
      '>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n*2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n',
    );
  });

  it('batches many replies, and taken buffers stay intact while writers interleave', () => {
    const writers = Array.from({ length: 5 }, () => new RespWriter());
    const expected: string[] = writers.map(() => '');
    const taken: [Buffer, string][] = [];
    let seed = 1;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let step = 0; step < 20_000; step++) {
      const i = rnd(writers.length);
      const kind = rnd(100);
      let reply: Reply;
      if (kind < 1) reply = 'L'.repeat(10_000 + rnd(60_000));
      else if (kind < 50) reply = `v${step}`;
      else if (kind < 80) reply = step;
      else reply = [`k${step}`, step, null];
      writers[i].write(reply, 2);
      expected[i] += enc(reply, 2);
      if (rnd(10) === 0) {
        taken.push([writers[i].take(), expected[i]]);
        expected[i] = '';
      }
    }
    for (let i = 0; i < writers.length; i++) taken.push([writers[i].take(), expected[i]]);
    for (const [buf, exp] of taken) expect(buf.toString('latin1')).toBe(exp);
  });

  it('handles a reply bigger than the shared slab', () => {
    const big = Array.from({ length: 1000 }, (_, i) => `member:${i}`.repeat(50));
    const w = new RespWriter();
    w.write(new SetReply(big), 3);
    w.write('x'.repeat(3_000_000), 3);
    const out = w.take().toString('latin1');
    expect(out).toBe(enc(new SetReply(big), 3) + enc('x'.repeat(3_000_000), 3));
    expect(w.length).toBe(0);
    expect(w.take().length).toBe(0);
  });
});

describe('encodeCommand', () => {
  it('encodes a RESP array of bulk strings', () => {
    expect(encodeCommand(['SET', 'k', '']).toString('latin1')).toBe('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n');
    expect(encodeCommand(['x'.repeat(12345)]).toString('latin1')).toBe(`*1\r\n$12345\r\n${'x'.repeat(12345)}\r\n`);
  });
});
