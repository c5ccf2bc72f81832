"""Tests of the API Gateway WebSocket + Lambda target."""
