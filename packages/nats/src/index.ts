export { classifyNatsError, type NatsErrorPolicy } from './classify.js';
export {
  isPublishableSubject,
  type NatsConnectionLike,
  type NatsSender,
  type NatsSenderOptions,
  natsMessageHeaders,
  natsSender,
} from './sender.js';
