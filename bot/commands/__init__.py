"""What users ask the bot: the `/online` grammar, parsed into plain command values."""
