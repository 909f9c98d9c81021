"""Telephony provider adapters shipped with Callboard: sim, webhook, asterisk."""
