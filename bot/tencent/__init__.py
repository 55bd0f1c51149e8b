"""Tencent Cloud Chat server REST API: signatures, errors, rate limits, the client."""
