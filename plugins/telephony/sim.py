"""The sim telephony provider."""
