"""Minimal reference servers, one per transport, that the targets are held against."""
