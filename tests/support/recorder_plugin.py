"""A consumer of every plugin's domain events: tells the acting user's devices about each.

Loaded with `LVNG_PLUGIN_MODULES=recorder=tests.support.recorder_plugin`; publishes
nothing itself.
"""

from core.api import hookimpl
from core.rooms import Room


@hookimpl
async def lvng_domain_event(event, platform):
    room = Room.of(event.organization_id, "user", event.data["userId"])
    await platform.emit(
        "recorder:event",
        {"name": event.name, "source": event.source, "data": event.data},
        room=room,
    )
