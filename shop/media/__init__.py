"""Pictures: uploads checked by content, resized variants, and the store that keeps them."""
