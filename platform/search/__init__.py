"""Search: the backend interface and its Whoosh implementation (knowledge base, records)."""
