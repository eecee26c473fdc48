"""Notifications: an outbox written with the change, delivered by WeCom, DingTalk, signed
webhooks and email, with retries, a delivery log and each person's preferences."""
