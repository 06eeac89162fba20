"""The hello plugin's metrics; the core names them `lvng_hello_…` in the app's registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter

from core.api import PluginMetrics


@dataclass(frozen=True)
class HelloMetrics:
    greetings: Counter

    @classmethod
    def create(cls, metrics: PluginMetrics) -> HelloMetrics:
        return cls(greetings=metrics.counter("greetings_total", "Greetings stored"))
