"""online-bot: who is online in your Tencent Cloud Chat audio-video groups, from Slack."""

__version__ = "0.1.0"
