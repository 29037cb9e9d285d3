"""Articles: pages, tag pages, comments, feeds and the sitemap."""
