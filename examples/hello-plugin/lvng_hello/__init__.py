"""hello: an example third-party LVNG plugin, found through the `lvng.plugins` entry point.

One event (`hello:greet`), one model (`Greeting`), one metric
(`lvng_hello_greetings_total`).
"""

from __future__ import annotations

from core.api import EventRegistrar, PluginMetrics, hookimpl
from lvng_hello.events import greet
from lvng_hello.metrics import HelloMetrics
from lvng_hello.schemas import Greet, Greeted

__version__ = "0.1.0"


@hookimpl
def lvng_register_events(events: EventRegistrar) -> None:
    events.add("hello:greet", Greet, greet)
    events.emits("hello:greeted", Greeted)  # for the AsyncAPI document


@hookimpl
def lvng_models() -> list[str]:
    return ["lvng_hello.models"]


@hookimpl
def lvng_metrics(metrics: PluginMetrics) -> HelloMetrics:
    return HelloMetrics.create(metrics)
