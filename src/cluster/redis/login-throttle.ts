import { LoginThrottle, type LoginFailures } from '../../xmpp/auth/throttle.js';
import { createLogger, type Logger } from '../../util/log.js';
import { connectRedis, redisClusterOptions, type RedisClient, type RedisClusterOptions } from './connection.js';
import { loginFailuresKey } from './keys.js';
import { LuaScript } from './scripts.js';

/**
 * Drops failures older than the window and returns how many are left.
 * KEYS[1] sorted set of failures scored by Redis time in ms; ARGV[1] window ms.
 * Redis's clock, not the nodes': their clocks may disagree by more than a guess takes.
 */
const countFailures = new LuaScript(
  'countLoginFailures',
  `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
return redis.call('ZCARD', KEYS[1])`,
);

/**
 * Records one failure. KEYS[1] as above; ARGV[1] window ms, ARGV[2] a member
 * unique to this failure, ARGV[3] the limit. Only the newest `limit` entries
 * are kept: more cannot block any longer, and a flood of guesses must not
 * grow the set without bound.
 */
const recordFailure = new LuaScript(
  'recordLoginFailure',
  `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`,
);

/**
 * A login whose password checked out, in one round trip: 0 while the key is
 * blocked, else its failures are deleted and 1. KEYS[1] as above; ARGV[1]
 * window ms, ARGV[2] the limit.
 */
const admitLogin = new LuaScript(
  'admitLogin',
  `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
return 1`,
);

export interface RedisLoginThrottleConfig {
  nodeId: string;
  redis?: Partial<RedisClusterOptions>;
  maxFailures: number;
  windowMs: number;
  /** How long a login waits for Redis before deciding on this node's own count. */
  timeoutMs?: number;
  log?: Logger;
}

/**
 * Failed logins counted for the whole cluster. Without it each node allowed
 * `maxFailures` guesses per window, so a password guesser spreading its
 * connections over N nodes behind a load balancer got N times as many.
 *
 * This node also counts in memory, and that count decides alone while
 * Redis does not answer within `timeoutMs`: an outage neither stops logins
 * nor lifts the throttle.
 */
export class RedisLoginThrottle implements LoginFailures {
  private readonly local: LoginThrottle;
  private readonly client: RedisClient;
  private readonly log: Logger;
  private readonly memberPrefix: string;
  private sequence = 0;
  private outage = false;

  constructor(private readonly config: RedisLoginThrottleConfig) {
    this.local = new LoginThrottle(config.maxFailures, config.windowMs);
    this.log = config.log ?? createLogger(`login-throttle:${config.nodeId}`);
    this.memberPrefix = `${config.nodeId}:${process.pid}:`;
    this.client = connectRedis(redisClusterOptions(config.redis), `sori-login-throttle-${config.nodeId}`, { waitMs: config.timeoutMs ?? 500 });
    this.client.on('error', (err: Error) => this.log.debug(`redis: ${err.message}`));
  }

  async isBlocked(key: string): Promise<boolean> {
    if (this.local.isBlocked(key)) return true;
    const count = await this.shared(() => countFailures.run(this.client, [loginFailuresKey(key)], [this.config.windowMs]));
    return typeof count === 'number' && count >= this.config.maxFailures;
  }

  async fail(...keys: string[]): Promise<void> {
    this.local.fail(...keys);
    const member = `${this.memberPrefix}${++this.sequence}`;
    await Promise.all(keys.map((key) => this.shared(() => recordFailure.run(this.client, [loginFailuresKey(key)], [this.config.windowMs, member, this.config.maxFailures]))));
  }

  async succeed(key: string): Promise<void> {
    this.local.succeed(key);
    await this.shared(() => this.client.del(loginFailuresKey(key)));
  }

  async admit(key: string): Promise<boolean> {
    if (!this.local.admit(key)) return false;
    const admitted = await this.shared(() => admitLogin.run(this.client, [loginFailuresKey(key)], [this.config.windowMs, this.config.maxFailures]));
    return admitted !== 0;
  }

  close(): void {
    this.client.disconnect();
  }

  /** Runs one Redis call; undefined when Redis fails or does not answer in time, logged once per outage. */
  private async shared<T>(call: () => Promise<T>): Promise<T | undefined> {
    try {
      const result = await call();
      if (this.outage) this.log.info('Redis answers again: failed logins are counted for the whole cluster');
      this.outage = false;
      return result;
    } catch (err) {
      if (!this.outage) this.log.warn('Redis did not answer: failed logins are counted on this node alone until it does', err);
      this.outage = true;
      return undefined;
    }
  }
}
