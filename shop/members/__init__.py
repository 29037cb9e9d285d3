"""Members in and out: importing CSV exports of Ghost, Substack, Mailchimp or a plain list,
and exporting the members in the columns the import reads."""
