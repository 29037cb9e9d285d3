"""Stories by email: a whole article mailed to its audience when it is published."""
