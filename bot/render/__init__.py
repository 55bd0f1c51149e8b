"""Pure rendering: command results in, Slack Block Kit (or terminal text) out."""
