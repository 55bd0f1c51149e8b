"""Each channel's daily digest: when it is due (schedule, pure), what it says (summary),
and the service that sets it and writes it to the outbox exactly once a day (service)."""
