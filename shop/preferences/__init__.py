"""What each reader wants in the mail (tags, frequency, pause) and the unsubscribe token."""
