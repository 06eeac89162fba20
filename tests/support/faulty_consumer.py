"""A plugin whose domain-event consumer always fails, to show fan-out isolation."""

from core.api import hookimpl


@hookimpl
async def lvng_domain_event(event, platform):
    raise RuntimeError(f"faulty consumer cannot take {event.name}")
