"""Monthly billing closes: freezing a month's statements so they never change again."""
