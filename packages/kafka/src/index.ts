export {
  type KafkaClientLike,
  type KafkaFailurePolicy,
  type KafkaProducerLike,
  type KafkaSenderOptions,
  type ResolvedKafkaSenderOptions,
  resolveKafkaSenderOptions,
} from './options.js';
export { type KafkaSender, kafkaErrorTypes, kafkaSender } from './sender.js';
