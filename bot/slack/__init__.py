"""The Slack transport: bolt listeners over bot.handlers, and how the app is served."""
