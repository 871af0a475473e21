export {
  type RabbitMqBindingDeclaration,
  type RabbitMqExchangeDeclaration,
  type RabbitMqFailurePolicy,
  type RabbitMqQueueDeclaration,
  type RabbitMqRoute,
  type RabbitMqSenderOptions,
  type RabbitMqTopology,
  type RabbitMqTopologyChannel,
  type ResolvedRabbitMqSenderOptions,
  resolveRabbitMqSenderOptions,
} from './options.js';
export { type RabbitMqSender, rabbitmqSender, UnroutableError } from './sender.js';
