"""Webhooks: the outbox that records events for an organization's endpoints, and their signed delivery."""
