"""The asterisk telephony provider."""
