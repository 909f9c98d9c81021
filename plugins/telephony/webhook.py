"""The webhook telephony provider."""
