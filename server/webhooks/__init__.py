"""Webhooks: signed JSON events POSTed to the operator's endpoints, never blocking signaling."""
