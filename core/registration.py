"""One registration pass: what the enabled plugins register at start-up (their client
events and the server→client events they emit, their domain events, metrics and models),
gathered in one place for the app (`core.app`), `lvng plugins` and `lvng migrate`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from core.config import Settings
from core.errors import ConfigError, PluginError
from core.metrics import PluginMetrics
from core.plugins import PluginHost, discover, enabled_names
from core.registry import EventRegistry


@dataclass
class Registration:
    """What the plugins of one host registered."""

    events: EventRegistry  # client events, emitted events and domain events
    metrics: dict[str, Any]  # plugin → what its lvng_metrics returned
    models: dict[str, list[str]]  # plugin → its models' modules (its Tortoise app)


def register_plugins(
    host: PluginHost,
    *,
    events: EventRegistry | None = None,
    metrics_registry: CollectorRegistry | None = None,
) -> Registration:
    """Call every plugin's registration hooks once, in the order the app needs them:
    client events (`lvng_register_events`), domain events, metrics (named `lvng_NAME_…`
    in `metrics_registry`), models. A plugin that fails stops it with a PluginError."""
    registry = events if events is not None else EventRegistry()
    collector = metrics_registry if metrics_registry is not None else CollectorRegistry()
    host.collect("lvng_register_events", per_plugin=lambda n: {"events": registry.registrar(n)})
    host.collect(
        "lvng_register_domain_events",
        per_plugin=lambda n: {"events": registry.domain_registrar(n)},
    )
    metrics = dict(
        host.collect("lvng_metrics", per_plugin=lambda n: {"metrics": PluginMetrics(collector, n)})
    )
    models = {
        plugin: [result] if isinstance(result, str) else [str(m) for m in result]
        for plugin, result in host.collect("lvng_models")
        if result
    }
    return Registration(registry, metrics, models)


@dataclass
class PluginInfo:
    name: str
    kind: str
    target: str
    version: str | None
    enabled: bool
    events: list[str] = field(default_factory=list)
    emits: list[str] = field(default_factory=list)  # server→client events it declares
    domain_events: list[dict[str, Any]] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    error: str | None = None


def describe_plugins(settings: Settings) -> list[PluginInfo]:
    """Every plugin found, enabled or not, with its events, domain events, models, metrics.

    Each is loaded on its own into a scratch host, so a broken one is reported, not fatal.
    """
    found = discover(settings)
    try:
        enabled = set(enabled_names(settings, found))
    except ConfigError:
        enabled = set()
    infos = []
    for name, source in found.items():
        info = PluginInfo(name, source.kind, source.target, source.version, name in enabled)
        try:
            host = PluginHost()
            host.register(source, source.load())
            host.check()
            metrics_registry = CollectorRegistry()
            done = register_plugins(host, metrics_registry=metrics_registry)
            info.events = done.events.of_plugin(name)
            info.emits = done.events.outbound_of(name)
            info.domain_events = [
                {"name": spec.name, "description": spec.description, "fields": spec.fields()}
                for spec in done.events.domain_events_of(name)
            ]
            info.models = done.models.get(name, [])
            # As /metrics shows them: a counter `x` is exposed as `x_total`.
            info.metrics = sorted(
                f"{metric.name}_total" if metric.type == "counter" else metric.name
                for metric in metrics_registry.collect()
            )
            info.hooks = host.hooks_of(name)
        except PluginError as exc:
            info.error = str(exc)
        infos.append(info)
    return infos
