"""Alerts: when a watched audio-video group crosses a line, and whom to tell.

:mod:`bot.alerts.rules` is the pure rule engine: a rule, the alert's last state and
one sample in, the next state and a named reason (plus what to send) out.
"""
