"""Overlay adapter: the websocket hub and server, and the browser pages they serve."""
