"""The dashboard: HTML pages with server-rendered SVG charts, from the same functions as the JSON API."""
