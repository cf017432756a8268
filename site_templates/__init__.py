"""Built-in Jinja templates, CSS and JS of the preview site, pages and banners (package data)."""
