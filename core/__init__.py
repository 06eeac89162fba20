"""The LVNG realtime platform: connection, identity, rate limit, rooms, plugins."""
