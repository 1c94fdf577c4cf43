/**
 * The notification channels' public surface: what the server wires in. Each channel lives in its
 * own folder; only `email/` imports nodemailer.
 */
export type {
  ApprovalFieldSpec,
  NotifiableApproval,
  NotifiableResponse,
} from './notifiableApproval.js';
export type {
  NotificationChannel,
  NotificationDelivery,
  NotificationDigest,
  Notifier,
} from './notifier.js';

export { verifySlackSignature, type SlackSignatureInput } from './slack/verifySlackSignature.js';
export {
  parseInteractionPayload,
  type SlackInteraction,
  type SlackInteractionAction,
} from './slack/parseInteractionPayload.js';
export { buildApprovalMessage, type ApprovalMessageOptions } from './slack/buildApprovalMessage.js';
export { buildDecidedMessage, type DecidedMessageOptions } from './slack/buildDecidedMessage.js';
export { buildReminderMessage } from './slack/buildReminderMessage.js';
export { buildDigestMessage } from './slack/buildDigestMessage.js';
export {
  DEFAULT_SLACK_API_URL,
  SlackClient,
  type SlackClientOptions,
  type SlackMessageRef,
} from './slack/slackClient.js';
export {
  SlackNotifier,
  isSlackRecipient,
  parseSlackRef,
  type SlackNotifierOptions,
} from './slack/slackNotifier.js';
export type { SlackBlock, SlackMessage } from './slack/slackBlocks.js';

export { createConfirmToken, hashConfirmToken, parseConfirmToken } from './email/confirmToken.js';
export {
  createEmailSender,
  isEmailAddress,
  type EmailSender,
  type EmailSenderOptions,
} from './email/createEmailSender.js';
export { renderApprovalEmail, type RenderedEmail } from './email/renderApprovalEmail.js';
export { renderDigestEmail } from './email/renderDigestEmail.js';
export { sendApprovalEmail, type SendApprovalEmailInput } from './email/sendApprovalEmail.js';
export {
  EmailNotifier,
  type ConfirmTokenRecord,
  type EmailNotifierOptions,
} from './email/emailNotifier.js';

export {
  createWebhookMessageId,
  createWebhookSecret,
  parseWebhookSecret,
  signWebhook,
  type WebhookHeaders,
} from './webhooks/signWebhook.js';
export {
  assertWebhookUrl,
  deliverWebhook,
  serializeWebhookEvent,
  type WebhookAttemptResult,
  type WebhookEndpoint,
  type WebhookEvent,
  type WebhookEventType,
} from './webhooks/deliverWebhook.js';
export { nextRetryDelay, WEBHOOK_RETRY_WINDOW_MS } from './webhooks/nextRetryDelay.js';
export {
  WebhookDispatcher,
  type RetryScheduler,
  type WebhookAttemptReport,
  type WebhookDispatcherOptions,
} from './webhooks/webhookDispatcher.js';
export {
  WebhookNotifier,
  buildApprovalEventData,
  createApprovalWebhookEvent,
  type WebhookNotifierOptions,
} from './webhooks/webhookNotifier.js';
