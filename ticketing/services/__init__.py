"""Use cases. Each takes a session, flushes but never commits (the edge owns the transaction),
writes SYSTEM interactions for what it changes and emits domain events."""
