"""The REST front-end, mounted at /api/v1. Handlers authenticate, call one service, and shape
the answer; they hold no rules of their own."""
