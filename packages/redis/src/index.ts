export { XADD_ONCE_LUA } from './script.js';
export {
  classifyRedisError,
  type RedisLike,
  type RedisPipelineLike,
  type RedisSender,
  type RedisSenderOptions,
  redisEntryFields,
  redisSender,
} from './sender.js';
